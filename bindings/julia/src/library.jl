# Finding and opening librnnlab. Hand-written; included by the generated LibRnnlab.jl, whose
# wrappers call `_cfunc(:rnnlab_name)` for the address of each C function.
#
# Where the library comes from (the first that applies):
#   1. ENV["RNNLAB_LIBRARY"]: the path of librnnlab.so (e.g. <build>/lib/librnnlab.so). When it is
#      set nothing else is tried, so a wrong path is reported instead of silently using another copy.
#   2. pkg-config: <libdir>/librnnlab.so with libdir from `pkg-config --variable=libdir rnnlab`
#      (an installed rnnlab; PKG_CONFIG_PATH is honoured).
#   3. The system loader's search (LD_LIBRARY_PATH, the ldconfig cache) for "librnnlab".
#
# The library is opened by the first call that needs it, not at `using` time, so RNNLAB_LIBRARY can
# still be set after loading the package. Every function in FUNCTIONS is resolved then, under a lock;
# after that the addresses are only read, which any number of threads may do at once.

const _LOCK = ReentrantLock()
const _HANDLE = Ref{Ptr{Cvoid}}(C_NULL)
const _PATH = Ref{String}("")
const _FPTRS = Dict{Symbol,Ptr{Cvoid}}()

"""
    library_candidates() -> Vector{Tuple{String,String}}

The (path or name, where it came from) pairs tried, in order, when librnnlab is opened.
"""
function library_candidates()
    cands = Tuple{String,String}[]
    explicit = get(ENV, "RNNLAB_LIBRARY", "")
    if !isempty(explicit)
        push!(cands, (explicit, "ENV[\"RNNLAB_LIBRARY\"]"))
        return cands
    end
    pkgconfig = Sys.which("pkg-config")
    if pkgconfig !== nothing
        libdir = try
            strip(read(pipeline(`$pkgconfig --variable=libdir rnnlab`; stderr = devnull), String))
        catch
            ""  # pkg-config knows no rnnlab: not installed there
        end
        if !isempty(libdir)
            push!(cands, (joinpath(libdir, "librnnlab." * Libdl.dlext), "pkg-config rnnlab"))
        end
    end
    push!(cands, ("librnnlab", "the system loader's search path"))
    return cands
end

"""
    library_path() -> String

The file librnnlab was opened from (opening it now if no call has needed it yet).
"""
function library_path()
    _HANDLE[] == C_NULL && _open_library()
    return _PATH[]
end

function _open_library()
    lock(_LOCK) do
        _HANDLE[] != C_NULL && return nothing
        tried = String[]
        for (cand, origin) in library_candidates()
            h = Libdl.dlopen(cand, Libdl.RTLD_LAZY | Libdl.RTLD_LOCAL; throw_error = false)
            if h === nothing || h == C_NULL
                push!(tried, "  $cand (from $origin): could not be opened")
                continue
            end
            fptrs = Dict{Symbol,Ptr{Cvoid}}()
            for name in FUNCTIONS
                p = Libdl.dlsym(h, name; throw_error = false)
                fptrs[name] = p === nothing ? C_NULL : p
            end
            # A library older than the header these wrappers come from lacks functions or fields;
            # another major version has another ABI. Either is refused here, naming both versions.
            vptr = fptrs[:rnnlab_version_number]
            have = vptr == C_NULL ? 0 : Int(ccall(vptr, UInt32, ()))
            want_major, want_minor = Int(RNNLAB_VERSION_MAJOR), Int(RNNLAB_VERSION_MINOR)
            have_major, have_minor = div(have, 10000), div(rem(have, 10000), 100)
            if have_major != want_major || have_minor < want_minor
                Libdl.dlclose(h)
                push!(tried, "  $cand (from $origin): version number $have, but these wrappers need " *
                             "$want_major.$want_minor or a later $want_major.x")
                continue
            end
            merge!(_FPTRS, fptrs)
            _PATH[] = something(Libdl.dlpath(h), cand)
            _HANDLE[] = h  # last: a non-NULL handle means every address above is in place
            return nothing
        end
        error("librnnlab could not be loaded. Tried:\n" * join(tried, "\n") *
              "\nSet ENV[\"RNNLAB_LIBRARY\"] to the path of librnnlab.$(Libdl.dlext) " *
              "(e.g. build/lib/librnnlab.$(Libdl.dlext)), or install rnnlab where pkg-config finds it.")
    end
end

function _cfunc(name::Symbol)
    _HANDLE[] == C_NULL && _open_library()
    p = _FPTRS[name]
    p == C_NULL && error("$(_PATH[]) has no function $name: it is older than the header these " *
                         "wrappers were generated from")
    return p
end
