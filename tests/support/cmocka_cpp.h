// cmocka 1.1's header has no extern "C" guard; C++ tests include it through here.
#ifndef RNNLAB_CMOCKA_CPP_H
#define RNNLAB_CMOCKA_CPP_H
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
extern "C" {
#include <cmocka.h>
}
#endif
