// The internal .npz module: round trips, strict rejection of damaged files, atomic saves, and
// (when python3 has numpy) agreement with numpy.load / numpy.savez in both directions.
// Every other header comes before cmocka.h: its fail() macro would otherwise rewrite
// rnnlab::fail and std::ios::fail.
#include "io/npz.h"

#include <zip.h>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
// cmocka 1.1's header declares its functions without C linkage guards.
extern "C" {
#include <cmocka.h>
}

#ifndef RNNLAB_TEST_TMPDIR
#define RNNLAB_TEST_TMPDIR "/tmp"
#endif

using rnnlab::Error;
using rnnlab::io::Compression;
using rnnlab::io::DType;
using rnnlab::io::NpyArray;
using rnnlab::io::NpzReader;
using rnnlab::io::NpzWriter;
using Shape = std::vector<std::size_t>;

namespace {

const DType kAllDTypes[] = {DType::Int8,  DType::UInt8,  DType::Int16,   DType::UInt16,  DType::Int32,
                            DType::UInt32, DType::Int64, DType::UInt64, DType::Float32, DType::Float64};

// Scalar, 1-d, 3-d, several empty shapes, and one whose numpy header is exactly 128 + 64 bytes
// (numpy adds a whole 64-byte block of padding when the header would already end aligned).
const Shape kShapes[] = {{}, {1}, {7}, {0}, {2, 3, 4}, {3, 0, 2}, {2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 100}};

// ---- files ---------------------------------------------------------------------------------------

void mkdir_p(const std::string &path) {
  std::string cur;
  std::stringstream ss(path);
  std::string part;
  if (!path.empty() && path[0] == '/') cur = "/";
  while (std::getline(ss, part, '/')) {
    if (part.empty()) continue;
    cur += part;
    if (::mkdir(cur.c_str(), 0777) != 0 && errno != EEXIST) {
      print_error("mkdir %s: %s\n", cur.c_str(), std::strerror(errno));
      fail();
    }
    cur += '/';
  }
}

std::set<std::string> list_dir(const std::string &dir) {
  std::set<std::string> out;
  DIR *d = ::opendir(dir.c_str());
  assert_non_null(d);
  while (struct dirent *e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") out.insert(n);
  }
  ::closedir(d);
  return out;
}

void remove_tree(const std::string &path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    ::chmod(path.c_str(), 0755);
    for (const std::string &n : list_dir(path)) remove_tree(path + "/" + n);
    ::rmdir(path.c_str());
  } else {
    ::unlink(path.c_str());
  }
}

// A fresh, empty directory for one test.
std::string fresh_dir(const char *name) {
  std::string d = std::string(RNNLAB_TEST_TMPDIR) + "/npz/" + name;
  remove_tree(d);
  mkdir_p(d);
  return d;
}

std::string slurp(const std::string &path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void spit(const std::string &path, const std::string &bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  assert_true(f.good());
}

// Builds a zip through libzip whose members hold exactly the given bytes, to feed the reader
// .npy images no NpzWriter would produce.
void write_raw_zip(const std::string &path, const std::vector<std::pair<std::string, std::string>> &members,
                   zip_int32_t method = ZIP_CM_STORE) {
  int code = 0;
  zip_t *za = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &code);
  assert_non_null(za);
  for (const auto &m : members) {
    zip_source_t *src = zip_source_buffer(za, m.second.data(), m.second.size(), 0);
    assert_non_null(src);
    zip_int64_t idx = zip_file_add(za, m.first.c_str(), src, 0);
    assert_true(idx >= 0);
    assert_int_equal(zip_set_file_compression(za, static_cast<zip_uint64_t>(idx), method, 0), 0);
  }
  assert_int_equal(zip_close(za), 0);
}

// ---- values --------------------------------------------------------------------------------------

// A value pattern simple enough to regenerate in Python: integers (i*37 + 11) % 127, minus 60 when
// signed; floats i/4 - 3.5 (exact in binary).
std::string pattern_bytes(DType t, std::size_t n) {
  std::string out(n * rnnlab::io::dtype_size(t), '\0');
  for (std::size_t i = 0; i < n; ++i) {
    long long iv = static_cast<long long>((i * 37 + 11) % 127);
    double fv = static_cast<double>(i) / 4.0 - 3.5;
    char *p = &out[i * rnnlab::io::dtype_size(t)];
    switch (t) {
      case DType::Int8: { int8_t v = static_cast<int8_t>(iv - 60); std::memcpy(p, &v, 1); break; }
      case DType::UInt8: { uint8_t v = static_cast<uint8_t>(iv); std::memcpy(p, &v, 1); break; }
      case DType::Int16: { int16_t v = static_cast<int16_t>(iv - 60); std::memcpy(p, &v, 2); break; }
      case DType::UInt16: { uint16_t v = static_cast<uint16_t>(iv); std::memcpy(p, &v, 2); break; }
      case DType::Int32: { int32_t v = static_cast<int32_t>(iv - 60); std::memcpy(p, &v, 4); break; }
      case DType::UInt32: { uint32_t v = static_cast<uint32_t>(iv); std::memcpy(p, &v, 4); break; }
      case DType::Int64: { int64_t v = iv - 60; std::memcpy(p, &v, 8); break; }
      case DType::UInt64: { uint64_t v = static_cast<uint64_t>(iv); std::memcpy(p, &v, 8); break; }
      case DType::Float32: { float v = static_cast<float>(fv); std::memcpy(p, &v, 4); break; }
      case DType::Float64: { std::memcpy(p, &fv, 8); break; }
    }
  }
  return out;
}

// Bytes that are not a simple pattern (NaN payloads and all), for byte-exact round trips.
std::string random_bytes(std::size_t n, uint32_t seed) {
  std::string out(n, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (std::size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    out[i] = static_cast<char>(x >> 24);
  }
  return out;
}

std::size_t count_of(const Shape &s) {
  std::size_t n = 1;
  for (std::size_t d : s) n *= d;
  return n;
}

std::string shape_key(const Shape &s) {
  if (s.empty()) return "scalar";
  std::string k;
  for (std::size_t i = 0; i < s.size(); ++i) k += (i ? "x" : "") + std::to_string(s[i]);
  return k;
}

std::string shape_csv(const Shape &s) {
  if (s.empty()) return "-";
  std::string k;
  for (std::size_t i = 0; i < s.size(); ++i) k += (i ? "," : "") + std::to_string(s[i]);
  return k;
}

// Runs f, which must throw rnnlab::Error with `status` and a message containing each of `parts`.
void expect_error(const std::function<void()> &f, rnnlab_status status, std::vector<std::string> parts) {
  try {
    f();
  } catch (const Error &e) {
    if (e.status != status) print_error("status %d (wanted %d): %s\n", e.status, status, e.what());
    assert_int_equal(e.status, status);
    for (const std::string &p : parts) {
      if (e.message.find(p) == std::string::npos) print_error("message lacks '%s': %s\n", p.c_str(), e.what());
      assert_true(e.message.find(p) != std::string::npos);
    }
    return;
  }
  print_error("no error thrown (wanted status %d)\n", status);
  fail();
}

bool have_numpy() {
  static int cached = -1;
  if (cached < 0) cached = std::system("python3 -c 'import numpy' >/dev/null 2>&1") == 0 ? 1 : 0;
  return cached == 1;
}

// ---- tests ---------------------------------------------------------------------------------------

void test_header_matches_numpy_layout(void **) {
  using rnnlab::io::npy_header;
  // Byte for byte what numpy.save writes for these (numpy 2.x).
  std::string h = npy_header(DType::Float32, {2, 3});
  std::string want = std::string("\x93NUMPY\x01\x00\x76\x00", 10) +
                     "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  want.append(128 - want.size() - 1, ' ');
  want += '\n';
  assert_int_equal(h.size(), 128);
  assert_memory_equal(h.data(), want.data(), 128);

  auto dict_is = [](const std::string &hdr, const std::string &dict) {
    if (hdr.compare(10, dict.size(), dict) != 0) print_error("header %s\nwanted   %s\n", hdr.c_str() + 10, dict.c_str());
    assert_true(hdr.compare(10, dict.size(), dict) == 0);
    assert_int_equal(hdr.find_first_not_of(' ', 10 + dict.size()), hdr.size() - 1);
  };
  h = npy_header(DType::Int32, {});
  assert_int_equal(h.size(), 128);
  dict_is(h, "{'descr': '<i4', 'fortran_order': False, 'shape': (), }");
  dict_is(npy_header(DType::Float64, {3}), "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }");
  dict_is(npy_header(DType::UInt8, {2, 3, 4}), "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3, 4), }");
  dict_is(npy_header(DType::Int8, {0}), "{'descr': '|i1', 'fortran_order': False, 'shape': (0,), }");
  dict_is(npy_header(DType::UInt64, {5, 0}), "{'descr': '<u8', 'fortran_order': False, 'shape': (5, 0), }");

  // The exactly-aligned case gets a whole extra block.
  h = npy_header(DType::Float32, {2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 100});
  assert_int_equal(h.size(), 192);

  for (std::size_t nd = 0; nd <= 64; ++nd) {
    Shape s(nd, nd * 1234567);
    std::string x = npy_header(DType::Int64, s);
    assert_int_equal(x.size() % 64, 0);
    assert_int_equal(x.back(), '\n');
    assert_int_equal(static_cast<unsigned char>(x[8]) | static_cast<unsigned char>(x[9]) << 8, x.size() - 10);
  }
  expect_error([] { npy_header(DType::Int64, Shape(65, 1)); }, RNNLAB_E_INVALID_ARGUMENT, {"65"});
}

void roundtrip(Compression c, const char *dirname) {
  std::string dir = fresh_dir(dirname);
  std::string path = dir + "/all.npz";
  NpzWriter w(c);
  uint32_t seed = 1;
  std::vector<std::pair<std::string, std::pair<DType, Shape>>> expect;
  for (DType t : kAllDTypes) {
    for (const Shape &s : kShapes) {
      std::string key = std::string(rnnlab::io::dtype_name(t)) + "_" + shape_key(s);
      std::string bytes = random_bytes(count_of(s) * rnnlab::io::dtype_size(t), seed++);
      w.add(key, t, s, bytes.data(), bytes.size());
      expect.push_back({key, {t, s}});
    }
  }
  w.save(path);
  NpzReader r(path);
  assert_int_equal(r.size(), expect.size());
  seed = 1;
  for (std::size_t i = 0; i < expect.size(); ++i) {
    const auto &e = expect[i];
    assert_string_equal(r.keys()[i].c_str(), e.first.c_str());
    const NpyArray &a = r.get(e.first);
    assert_int_equal(static_cast<int>(a.dtype), static_cast<int>(e.second.first));
    assert_true(a.shape == e.second.second);
    std::string bytes = random_bytes(count_of(e.second.second) * rnnlab::io::dtype_size(e.second.first), seed++);
    assert_int_equal(a.data.size(), bytes.size());
    if (!bytes.empty()) assert_memory_equal(a.data.data(), bytes.data(), bytes.size());
  }
}

void test_roundtrip_store(void **) { roundtrip(Compression::Store, "roundtrip_store"); }
void test_roundtrip_deflate(void **) { roundtrip(Compression::Deflate, "roundtrip_deflate"); }

void test_typed_api_and_keys(void **) {
  std::string dir = fresh_dir("typed");
  std::string path = dir + "/model.npz";
  NpzWriter w;
  std::vector<float> wih = {1.5f, -2.0f, 3.25f, 0.0f, 1e-30f, -7.0f};
  w.add("rnn.weight_ih_l0", {2, 3}, wih);
  w.add("with space/and slash", {2}, std::vector<double>{0.5, -0.25});
  w.add("\xc3\xbcnicode", {1}, std::vector<int64_t>{-1234567890123LL});
  w.add_scalar("step", int64_t{42});
  w.add_scalar<long long>("ll", -5);
  w.add_scalar("lr", 0.125);
  w.add_scalar<uint8_t>("flag", 1);
  assert_true(w.contains("rnn.weight_ih_l0"));
  assert_false(w.contains("rnn.weight_ih_l1"));

  expect_error([&] { w.add_scalar("step", 1.0f); }, RNNLAB_E_INVALID_ARGUMENT, {"duplicate", "step"});
  expect_error([&] { w.add_scalar("", 1.0f); }, RNNLAB_E_INVALID_ARGUMENT, {"empty"});
  expect_error([&] { w.add(std::string("a\0b", 3), {1}, std::vector<float>{1}); }, RNNLAB_E_INVALID_ARGUMENT,
               {"NUL"});
  expect_error([&] { w.add("bad", {2, 2}, std::vector<float>{1, 2, 3}); }, RNNLAB_E_INVALID_ARGUMENT,
               {"'bad'", "12 bytes given", "(2, 2)", "16"});
  expect_error([&] { w.add("null", DType::Float32, {2}, nullptr, 8); }, RNNLAB_E_INVALID_ARGUMENT, {"NULL"});
  w.add("empty_null_ok", DType::Float32, {0, 4}, nullptr, 0);
  assert_int_equal(w.size(), 8);
  w.save(path);

  NpzReader r(path);
  assert_string_equal(r.path().c_str(), path.c_str());
  assert_true(r.values<float>("rnn.weight_ih_l0") == wih);
  assert_true(r.get("rnn.weight_ih_l0").shape == Shape({2, 3}));
  assert_true(r.values<double>("with space/and slash") == std::vector<double>({0.5, -0.25}));
  assert_int_equal(r.values<int64_t>("\xc3\xbcnicode").at(0), -1234567890123LL);
  assert_true(r.get("step").shape.empty());
  assert_int_equal(r.get("step").element_count(), 1);
  assert_int_equal(r.values<int64_t>("step").at(0), 42);
  assert_int_equal(r.values<long long>("ll").at(0), -5);
  assert_true(r.values<double>("lr").at(0) == 0.125);
  assert_int_equal(r.values<uint8_t>("flag").at(0), 1);
  assert_true(r.values<float>("empty_null_ok").empty());
  assert_true(r.get("empty_null_ok").shape == Shape({0, 4}));

  expect_error([&] { r.get("nope"); }, RNNLAB_E_NOT_FOUND, {path, "'nope'"});
  expect_error([&] { r.values<double>("rnn.weight_ih_l0"); }, RNNLAB_E_FORMAT,
               {path, "rnn.weight_ih_l0", "float32", "expected float64"});

  // Non-.npy members are not arrays and are skipped, as numpy.load would not return them as such.
  std::string mixed = dir + "/mixed.npz";
  std::string npy = rnnlab::io::npy_header(DType::Int32, {}) + std::string("\x07\0\0\0", 4);
  write_raw_zip(mixed, {{"readme.txt", "hello"}, {"x.npy", npy}});
  NpzReader m(mixed);
  assert_int_equal(m.size(), 1);
  assert_int_equal(m.values<int32_t>("x").at(0), 7);

  expect_error([] { NpzWriter().save(std::string(RNNLAB_TEST_TMPDIR) + "/npz/never.npz"); },
               RNNLAB_E_INVALID_ARGUMENT, {"nothing to save"});
}

void test_parse_npy_and_load_npy(void **) {
  std::string dir = fresh_dir("npy");
  std::string img = rnnlab::io::npy_header(DType::Int16, {3}) + pattern_bytes(DType::Int16, 3);
  NpyArray a = rnnlab::io::parse_npy(reinterpret_cast<const unsigned char *>(img.data()), img.size(), "mem");
  assert_int_equal(static_cast<int>(a.dtype), static_cast<int>(DType::Int16));
  assert_true(a.shape == Shape({3}));
  assert_memory_equal(a.data.data(), pattern_bytes(DType::Int16, 3).data(), 6);
  spit(dir + "/a.npy", img);
  NpyArray b = rnnlab::io::load_npy(dir + "/a.npy");
  assert_true(b.data == a.data);
  spit(dir + "/short.npy", img.substr(0, img.size() - 1));
  expect_error([&] { rnnlab::io::load_npy(dir + "/short.npy"); }, RNNLAB_E_CORRUPT,
               {"short.npy", "truncated data", "needs 6 bytes, 5 are present"});
  expect_error([&] { rnnlab::io::load_npy(dir + "/missing.npy"); }, RNNLAB_E_IO, {"missing.npy", "cannot open"});
  // Version 2.0 (4-byte header length) is read too.
  std::string v2 = "\x93NUMPY\x02";
  v2 += '\0';
  std::string dict = "{'descr': '<u2', 'fortran_order': False, 'shape': (2,), }";
  std::size_t hl = 128 - 12;
  v2 += static_cast<char>(hl);
  v2.append(3, '\0');
  v2 += dict;
  v2.append(hl - dict.size() - 1, ' ');
  v2 += '\n';
  v2 += std::string("\x01\x00\x02\x01", 4);
  NpyArray c = rnnlab::io::parse_npy(reinterpret_cast<const unsigned char *>(v2.data()), v2.size(), "v2");
  assert_true(c.shape == Shape({2}));
  assert_int_equal(c.data[3], 1);
}

// Wraps a header dict (as text) into a .npy v1.0 image followed by `data`.
std::string npy_with_dict(const std::string &dict, const std::string &data, const char *version = "\x01\x00") {
  std::string out = std::string("\x93NUMPY", 6) + std::string(version, 2);
  std::string body = dict;
  std::size_t total = 10 + body.size() + 1;
  std::size_t pad = (64 - total % 64) % 64;
  body.append(pad, ' ');
  body += '\n';
  out += static_cast<char>(body.size() & 0xff);
  out += static_cast<char>(body.size() >> 8);
  return out + body + data;
}

std::string without_final_newline(std::string img) {
  std::size_t at = img.find(" \n");
  assert_true(at != std::string::npos);
  img[at + 1] = ' ';
  return img;
}

void test_corrupt_npy_members(void **) {
  std::string dir = fresh_dir("corrupt_members");
  std::string f4x2 = pattern_bytes(DType::Float32, 2);
  struct Case {
    const char *name;
    std::string member;
    rnnlab_status status;
    std::vector<std::string> parts;
  };
  const std::string ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
  std::vector<Case> cases = {
      {"badmagic", "\x93NUMPZ" + npy_with_dict(ok, f4x2).substr(6), RNNLAB_E_CORRUPT, {"bad magic"}},
      {"notnpy", "PK this is text, not an array at all", RNNLAB_E_CORRUPT, {"bad magic"}},
      {"tiny", std::string("\x93NUM", 4), RNNLAB_E_CORRUPT, {"truncated"}},
      {"headertrunc", npy_with_dict(ok, "").substr(0, 40), RNNLAB_E_CORRUPT, {"truncated header"}},
      {"version", npy_with_dict(ok, f4x2, "\x09\x00"), RNNLAB_E_FORMAT, {"version 9.0"}},
      {"garbage", npy_with_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), ]", f4x2),
       RNNLAB_E_CORRUPT, {"malformed .npy header"}},
      {"notadict", npy_with_dict("__import__('os').system('true')", f4x2), RNNLAB_E_CORRUPT, {"expected '{'"}},
      {"missingkey", npy_with_dict("{'descr': '<f4', 'shape': (2,), }", f4x2), RNNLAB_E_CORRUPT,
       {"missing key 'fortran_order'"}},
      {"extrakey", npy_with_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1, }", f4x2),
       RNNLAB_E_CORRUPT, {"unexpected key 'x'"}},
      {"dupkey", npy_with_dict("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", f4x2),
       RNNLAB_E_CORRUPT, {"duplicate key 'descr'"}},
      {"notuplecomma", npy_with_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2), }", f4x2),
       RNNLAB_E_CORRUPT, {"trailing comma"}},
      {"negative", npy_with_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", f4x2),
       RNNLAB_E_CORRUPT, {"non-negative integer"}},
      {"overflow", npy_with_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }", f4x2),
       RNNLAB_E_CORRUPT, {"too large"}},
      {"hugeproduct",
       npy_with_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", f4x2),
       RNNLAB_E_CORRUPT, {"overflows"}},
      {"nonewline", without_final_newline(npy_with_dict(ok, f4x2)), RNNLAB_E_CORRUPT, {"newline"}},
      {"fortran", npy_with_dict("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", f4x2),
       RNNLAB_E_FORMAT, {"Fortran"}},
      {"complex", npy_with_dict("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", f4x2),
       RNNLAB_E_FORMAT, {"unsupported dtype '<c8'"}},
      {"bool", npy_with_dict("{'descr': '|b1', 'fortran_order': False, 'shape': (8,), }", f4x2), RNNLAB_E_FORMAT,
       {"unsupported dtype '|b1'"}},
      {"bigendian", npy_with_dict("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", f4x2),
       RNNLAB_E_FORMAT, {"big-endian"}},
      {"structured", npy_with_dict("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", f4x2),
       RNNLAB_E_FORMAT, {"structured"}},
      {"truncdata", npy_with_dict(ok, f4x2.substr(0, 5)), RNNLAB_E_CORRUPT,
       {"truncated data", "(2,)", "needs 8 bytes, 5 are present"}},
      {"extradata", npy_with_dict(ok, f4x2 + "xx"), RNNLAB_E_CORRUPT, {"2 unexpected bytes"}},
  };
  for (const Case &c : cases) {
    for (zip_int32_t method : {ZIP_CM_STORE, ZIP_CM_DEFLATE}) {
      std::string path = dir + "/" + c.name + ".npz";
      write_raw_zip(path, {{"fine.npy", npy_with_dict(ok, f4x2)}, {"w.npy", c.member}}, method);
      std::vector<std::string> parts = c.parts;
      parts.push_back(path + ": member 'w.npy'");
      expect_error([&] { NpzReader r(path); }, c.status, parts);
    }
  }
  // Looser spellings numpy itself would accept parse fine: double quotes, other key order, tabs.
  std::string path = dir + "/loose.npz";
  write_raw_zip(path, {{"w.npy", npy_with_dict("{\"shape\": ( 2 , ),\t\"fortran_order\": False, \"descr\": \"<f4\"}",
                                               f4x2)}});
  assert_true(NpzReader(path).get("w").shape == Shape({2}));
}

void test_damaged_files(void **) {
  std::string dir = fresh_dir("damaged");
  std::string path = dir + "/good.npz";
  NpzWriter w;
  // A recognisable run of bytes to find (and damage) in the stored archive.
  std::vector<uint8_t> marker(64);
  for (std::size_t i = 0; i < marker.size(); ++i) marker[i] = static_cast<uint8_t>(0xA0 + (i % 16));
  w.add("marker", {64}, marker);
  w.add("w", {16, 16}, std::vector<double>(256, 0.5));
  w.save(path);
  std::string good = slurp(path);

  // Truncation anywhere loses the central directory at the end of the archive.
  for (std::size_t len : {good.size() - 1, good.size() / 2, std::size_t(30), std::size_t(4)}) {
    spit(dir + "/trunc.npz", good.substr(0, len));
    expect_error([&] { NpzReader r(dir + "/trunc.npz"); }, RNNLAB_E_CORRUPT, {dir + "/trunc.npz", "not a zip"});
  }
  spit(dir + "/empty.npz", "");
  expect_error([&] { NpzReader r(dir + "/empty.npz"); }, RNNLAB_E_CORRUPT, {"empty file"});

  spit(dir + "/text.npz", "This is a plain text file, certainly not a zip archive.\n");
  expect_error([&] { NpzReader r(dir + "/text.npz"); }, RNNLAB_E_CORRUPT, {dir + "/text.npz", "not a zip"});

  expect_error([&] { NpzReader r(dir + "/does_not_exist.npz"); }, RNNLAB_E_IO, {"does_not_exist.npz"});
  expect_error([&] { NpzReader r(dir); }, RNNLAB_E_IO, {dir});

  // A flipped data byte in a stored member: the header is fine, the CRC is not.
  std::string needle(reinterpret_cast<const char *>(marker.data()), marker.size());
  std::size_t at = good.find(needle);
  assert_true(at != std::string::npos);
  std::string bad = good;
  bad[at + 10] ^= 0x01;
  spit(dir + "/crc.npz", bad);
  expect_error([&] { NpzReader r(dir + "/crc.npz"); }, RNNLAB_E_CORRUPT, {"member 'marker.npy'", "CRC"});

  // Damage inside a deflated stream.
  NpzWriter wd(Compression::Deflate);
  std::vector<float> noise(2048);
  for (std::size_t i = 0; i < noise.size(); ++i) noise[i] = static_cast<float>((i * 7919) % 1013) / 17.0f;
  wd.add("noise", {2048}, noise);
  wd.add("w", {4096}, std::vector<uint8_t>(4096, 3));
  wd.save(dir + "/deflated.npz");
  std::string d = slurp(dir + "/deflated.npz");
  // The middle of the first member's compressed stream, which follows its local header (30 fixed
  // bytes, then the name and extra field whose lengths sit at offsets 26 and 28; the compressed
  // size is at offset 18).
  auto le = [&](std::size_t off, int n) {
    std::size_t v = 0;
    for (int k = n - 1; k >= 0; --k) v = v << 8 | static_cast<unsigned char>(d[off + static_cast<std::size_t>(k)]);
    return v;
  };
  assert_true(d.compare(0, 4, "PK\x03\x04") == 0);
  assert_int_equal(le(8, 2), ZIP_CM_DEFLATE);
  std::size_t mid = 30 + le(26, 2) + le(28, 2) + le(18, 4) / 2;
  std::string dbad = d;
  for (std::size_t k = 0; k < 4; ++k) dbad[mid + k] = static_cast<char>(~dbad[mid + k]);
  spit(dir + "/deflated_bad.npz", dbad);
  expect_error([&] { NpzReader r(dir + "/deflated_bad.npz"); }, RNNLAB_E_CORRUPT, {"member 'noise.npy'"});
}

NpzWriter writer_with(float v) {
  NpzWriter w;
  w.add("v", {3}, std::vector<float>{v, v, v});
  return w;
}

void test_atomic_save(void **) {
  using rnnlab::io::testing::SaveFault;
  using rnnlab::io::testing::set_save_fault;
  std::string dir = fresh_dir("atomic");
  std::string path = dir + "/model.npz";
  writer_with(1.0f).save(path);
  std::string before = slurp(path);
  assert_true(list_dir(dir) == std::set<std::string>({"model.npz"}));

  // A normal file's permissions come from the umask, not from the private temporary's creation.
  mode_t mask = ::umask(022);
  ::umask(mask);
  struct stat st;
  assert_int_equal(::stat(path.c_str(), &st), 0);
  assert_int_equal(st.st_mode & 0777, 0666 & ~mask);

  for (SaveFault f : {SaveFault::AfterTempCreated, SaveFault::AfterArchiveWritten, SaveFault::AfterTempSynced}) {
    set_save_fault(f);
    expect_error([&] { writer_with(2.0f).save(path); }, RNNLAB_E_IO, {path, "simulated failure"});
    set_save_fault(SaveFault::None);
    assert_true(slurp(path) == before);
    assert_true(list_dir(dir) == std::set<std::string>({"model.npz"}));
  }

  // A real failure at the last step: the target name is taken by a directory.
  mkdir_p(dir + "/taken.npz");
  expect_error([&] { writer_with(3.0f).save(dir + "/taken.npz"); }, RNNLAB_E_IO, {"taken.npz", "rename"});
  assert_true(list_dir(dir) == std::set<std::string>({"model.npz", "taken.npz"}));
  assert_true(list_dir(dir + "/taken.npz").empty());

  // A directory that does not exist.
  expect_error([&] { writer_with(3.0f).save(dir + "/no/such/dir/m.npz"); }, RNNLAB_E_IO,
               {dir + "/no/such/dir/m.npz: cannot create a temporary file"});

  // A directory we may not write into (root may write anywhere, so this only bites as a user).
  if (::geteuid() != 0) {
    assert_int_equal(::chmod(dir.c_str(), 0555), 0);
    expect_error([&] { writer_with(4.0f).save(path); }, RNNLAB_E_IO, {dir, "temporary"});
    assert_int_equal(::chmod(dir.c_str(), 0755), 0);
    assert_true(slurp(path) == before);
    assert_true(list_dir(dir) == std::set<std::string>({"model.npz", "taken.npz"}));
  } else {
    print_message("atomic save: running as root, so the read-only-directory case is not checked\n");
  }

  // And a successful save replaces the old contents.
  writer_with(5.0f).save(path);
  assert_true(NpzReader(path).values<float>("v") == std::vector<float>({5.0f, 5.0f, 5.0f}));
  assert_true(list_dir(dir) == std::set<std::string>({"model.npz", "taken.npz"}));

  // A bare file name saves into the current directory.
  char cwd[4096];
  assert_non_null(::getcwd(cwd, sizeof cwd));
  assert_int_equal(::chdir(dir.c_str()), 0);
  writer_with(6.0f).save("bare.npz");
  assert_int_equal(::chdir(cwd), 0);
  assert_true(NpzReader(dir + "/bare.npz").values<float>("v").at(0) == 6.0f);
}

// ---- numpy interoperability ------------------------------------------------------------------------

// The arrays both directions use: every dtype and shape with the shared value pattern, plus a
// parameter-style key.
struct Spec {
  std::string key;
  DType dtype;
  Shape shape;
};

std::vector<Spec> interop_specs() {
  std::vector<Spec> out;
  for (DType t : kAllDTypes)
    for (const Shape &s : kShapes) out.push_back({std::string(rnnlab::io::dtype_name(t)) + "_" + shape_key(s), t, s});
  out.push_back({"rnn.weight_ih_l0", DType::Float32, {6, 4}});
  return out;
}

void write_manifest(const std::string &path, const std::vector<Spec> &specs) {
  std::ofstream f(path);
  for (const Spec &s : specs) f << s.key << ' ' << rnnlab::io::dtype_name(s.dtype) << ' ' << shape_csv(s.shape) << '\n';
  assert_true(f.good());
}

const char *kPyCommon = R"PY(
import sys, io, zipfile
import numpy as np

def specs(manifest):
    out = []
    for line in open(manifest):
        key, dt, shp = line.split()
        shape = () if shp == '-' else tuple(int(x) for x in shp.split(','))
        out.append((key, np.dtype(dt), shape))
    return out

def pattern(dt, shape):
    n = int(np.prod(shape, dtype=np.int64))
    i = np.arange(n, dtype=np.int64)
    if dt.kind == 'f':
        v = i / 4.0 - 3.5
    else:
        v = (i * 37 + 11) % 127
        if dt.kind == 'i':
            v = v - 60
    return v.astype(dt).reshape(shape)
)PY";

bool run_python(const std::string &dir, const std::string &script, const std::string &args) {
  std::string sp = dir + "/check.py";
  spit(sp, std::string(kPyCommon) + script);
  std::string cmd = "python3 '" + sp + "' " + args;
  int rc = std::system(cmd.c_str());
  if (rc != 0) print_error("'%s' exited with %d\n", cmd.c_str(), rc);
  return rc == 0;
}

void test_numpy_loads_ours(void **) {
  if (!have_numpy()) {
    print_message("numpy interop: skipped, python3 cannot import numpy\n");
    skip();
    return;
  }
  std::string dir = fresh_dir("numpy_loads_ours");
  std::vector<Spec> specs = interop_specs();
  write_manifest(dir + "/manifest.txt", specs);
  for (Compression c : {Compression::Store, Compression::Deflate}) {
    NpzWriter w(c);
    for (const Spec &s : specs) {
      std::string b = pattern_bytes(s.dtype, count_of(s.shape));
      w.add(s.key, s.dtype, s.shape, b.data(), b.size());
    }
    w.save(dir + (c == Compression::Store ? "/ours_store.npz" : "/ours_deflate.npz"));
  }
  const char *script = R"PY(
manifest, files = sys.argv[1], sys.argv[2:]
want = specs(manifest)
bad = 0
for path in files:
    with np.load(path, allow_pickle=False) as z:
        if sorted(z.files) != sorted(k for k, _, _ in want):
            print(path, 'keys differ:', sorted(z.files)); bad += 1
        for key, dt, shape in want:
            a = z[key]
            if a.dtype != dt or a.shape != shape or not np.array_equal(a, pattern(dt, shape)):
                print(path, key, 'got', a.dtype, a.shape, 'want', dt, shape); bad += 1
    # Each member must be byte for byte what numpy.save writes for the same array.
    with zipfile.ZipFile(path) as zf:
        for key, dt, shape in want:
            buf = io.BytesIO(); np.save(buf, pattern(dt, shape))
            if zf.read(key + '.npy') != buf.getvalue():
                print(path, key, 'member bytes differ from numpy.save'); bad += 1
print('numpy checked', len(files), 'files,', len(want), 'arrays each,', bad, 'problems')
sys.exit(1 if bad else 0)
)PY";
  assert_true(run_python(dir, script,
                         "'" + dir + "/manifest.txt' '" + dir + "/ours_store.npz' '" + dir + "/ours_deflate.npz'"));
}

void test_we_load_numpys(void **) {
  if (!have_numpy()) {
    print_message("numpy interop: skipped, python3 cannot import numpy\n");
    skip();
    return;
  }
  std::string dir = fresh_dir("we_load_numpys");
  std::vector<Spec> specs = interop_specs();
  write_manifest(dir + "/manifest.txt", specs);
  const char *script = R"PY(
manifest, out = sys.argv[1], sys.argv[2]
arrays = {key: pattern(dt, shape) for key, dt, shape in specs(manifest)}
np.savez(out + '/np_savez.npz', **arrays)
np.savez_compressed(out + '/np_compressed.npz', **arrays)
np.savez(out + '/np_empty.npz')
np.save(out + '/np_single.npy', pattern(np.dtype('float64'), (2, 5)))
)PY";
  assert_true(run_python(dir, script, "'" + dir + "/manifest.txt' '" + dir + "'"));
  for (const char *name : {"/np_savez.npz", "/np_compressed.npz"}) {
    NpzReader r(dir + name);
    assert_int_equal(r.size(), specs.size());
    for (const Spec &s : specs) {
      const NpyArray &a = r.get(s.key);
      assert_int_equal(static_cast<int>(a.dtype), static_cast<int>(s.dtype));
      assert_true(a.shape == s.shape);
      std::string want = pattern_bytes(s.dtype, count_of(s.shape));
      assert_int_equal(a.data.size(), want.size());
      if (!want.empty()) assert_memory_equal(a.data.data(), want.data(), want.size());
    }
  }
  assert_int_equal(NpzReader(dir + "/np_empty.npz").size(), 0);
  NpyArray single = rnnlab::io::load_npy(dir + "/np_single.npy");
  assert_true(single.shape == Shape({2, 5}));
  assert_memory_equal(single.data.data(), pattern_bytes(DType::Float64, 10).data(), 80);
}

}  // namespace

int main(void) {
  mkdir_p(std::string(RNNLAB_TEST_TMPDIR) + "/npz");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_header_matches_numpy_layout),
      cmocka_unit_test(test_roundtrip_store),
      cmocka_unit_test(test_roundtrip_deflate),
      cmocka_unit_test(test_typed_api_and_keys),
      cmocka_unit_test(test_parse_npy_and_load_npy),
      cmocka_unit_test(test_corrupt_npy_members),
      cmocka_unit_test(test_damaged_files),
      cmocka_unit_test(test_atomic_save),
      cmocka_unit_test(test_numpy_loads_ours),
      cmocka_unit_test(test_we_load_numpys),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
