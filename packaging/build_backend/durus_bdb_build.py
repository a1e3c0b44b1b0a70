"""PEP 517 build backend for durus_bdb: CMake builds the `_durus_bdb` target,
and the .so and the package's .py files go into a wheel for the Python that
runs the build (pip's interpreter).  Standard library only, so that
`pip install --no-build-isolation .` works offline (pyproject.toml declares
no build requirements).

Settings, lowest precedence first:
  [tool.durus-bdb] cmake-args in pyproject.toml (Release, no benches, no tests)
  $CMAKE_ARGS (split like a shell would)
  --config-settings=cmake.args="-DX=Y -DZ=W"
The CMake build tree is $DURUS_BDB_WHEEL_BUILD_DIR, else
build/wheel-<python tag>-<hash of the base interpreter's path> in the
source tree; it is kept between builds, so a
second `pip install .` only recompiles what changed.  ccache is used when it
is on PATH.

pybind11 comes from CMake's search path (Debian's pybind11-dev:
/usr/lib/cmake/pybind11) or, when the building Python can import it, from
pybind11.get_cmake_dir() (`pip install pybind11`).
"""

import base64
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import zipfile

SOURCE_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PACKAGE = "durus_bdb"
DIST_NAME = "durus_bdb"          # the wheel's file-name form of "durus-bdb"
TARGET = "_durus_bdb"


class BuildError(Exception):
    """A build failure with one line saying what to do (pip shows it)."""


def _pyproject():
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        try:
            import tomli as tomllib
        except ImportError:
            return {}
    with open(os.path.join(SOURCE_DIR, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)


def _version():
    """The one version: project(durus_bdb VERSION x.y.z) in CMakeLists.txt."""
    with open(os.path.join(SOURCE_DIR, "CMakeLists.txt")) as f:
        m = re.search(r"project\(\s*durus_bdb\s+VERSION\s+([0-9][0-9.]*)", f.read())
    if not m:
        raise BuildError("CMakeLists.txt: no project(durus_bdb VERSION ...) line")
    return m.group(1)


def _tag():
    """cp311-cp311-linux_x86_64 for the running CPython: the .so is built
    for exactly this interpreter (its EXT_SUFFIX and ABI)."""
    impl = "cp" if sys.implementation.name == "cpython" else sys.implementation.name[:2]
    py = "%s%d%d" % (impl, sys.version_info[0], sys.version_info[1])
    abi = py + (sys.abiflags if hasattr(sys, "abiflags") else "")
    plat = re.sub(r"[-.]", "_", sysconfig.get_platform())
    return py, abi, plat


def _metadata():
    project = _pyproject().get("project", {})
    lines = ["Metadata-Version: 2.1",
             "Name: durus-bdb",
             "Version: " + _version(),
             "Summary: " + project.get("description", "")]
    if project.get("requires-python"):
        lines.append("Requires-Python: " + project["requires-python"])
    readme = os.path.join(SOURCE_DIR, "README.md")
    body = ""
    if os.path.exists(readme):
        lines.append("Description-Content-Type: text/markdown")
        with open(readme, encoding="utf-8") as f:
            body = f.read()
    return "\n".join(lines) + "\n\n" + body


def _run(cmd, what):
    print("durus_bdb build: " + " ".join(shlex.quote(c) for c in cmd), flush=True)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sys.stdout.write(proc.stdout)
    sys.stdout.flush()
    if proc.returncode != 0:
        raise BuildError(_explain(proc.stdout, what))
    return proc.stdout


def _explain(output, what):
    """One line for pip's error: the first CMake error message (our own
    say what to install: python/CMakeLists.txt, CMakeLists.txt), with a
    hint for a Python without headers; the full output is above it."""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("CMake Error"):
            message = " ".join(l.strip() for l in lines[i + 1:i + 6] if l.strip())
            message = message.split("Call Stack")[0].strip()
            if "Could NOT find Python3" in message:
                message += (" -- %s has no headers (Debian: apt-get install python3-dev)"
                            % sys.executable)
            return "%s failed: %s" % (what, message)
    return "%s failed (the output above says why)" % what


def _cmake_args(config_settings):
    args = list(_pyproject().get("tool", {}).get("durus-bdb", {}).get("cmake-args", []))
    args.append("-DPython3_EXECUTABLE=" + sys.executable)
    try:
        import pybind11
        args.append("-Dpybind11_DIR=" + pybind11.get_cmake_dir())
    except ImportError:
        pass  # CMake's own search: Debian's /usr/lib/cmake/pybind11
    if shutil.which("ccache") and "CMAKE_CXX_COMPILER_LAUNCHER" not in os.environ:
        args.append("-DCMAKE_CXX_COMPILER_LAUNCHER=ccache")
    args += shlex.split(os.environ.get("CMAKE_ARGS", ""))
    extra = (config_settings or {}).get("cmake.args", "")
    args += shlex.split(extra) if isinstance(extra, str) else list(extra)
    return args


def _build_dir():
    d = os.environ.get("DURUS_BDB_WHEEL_BUILD_DIR")
    if d:
        return os.path.abspath(d)
    # One tree per base interpreter: Debian's python3.11 and pyenv's 3.11
    # share a tag but not headers; venvs of one Python share a tree.
    base = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
    key = hashlib.sha1(base.encode()).hexdigest()[:8]
    return os.path.join(SOURCE_DIR, "build", "wheel-%s-%s" % (_tag()[0], key))


def _compile(config_settings):
    """Configure and build `_durus_bdb`; returns the package directory in
    the build tree (the .so and the .py files side by side)."""
    cmake = shutil.which("cmake")
    if not cmake:
        raise BuildError("cmake not found: apt-get install cmake")
    build = _build_dir()
    os.makedirs(build, exist_ok=True)
    _run([cmake, "-S", SOURCE_DIR, "-B", build] + _cmake_args(config_settings),
         "configuring with CMake")
    jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL") or str(os.cpu_count() or 1)
    _run([cmake, "--build", build, "--target", TARGET, "-j", jobs], "building " + TARGET)
    return os.path.join(build, "python", PACKAGE)


def _package_files(package_dir):
    """(path in the wheel, file) for the .py files and the extension."""
    files = []
    for name in sorted(os.listdir(package_dir)):
        if name.endswith(".py") or (name.startswith(TARGET + ".") and name.endswith(".so")):
            files.append((PACKAGE + "/" + name, os.path.join(package_dir, name)))
    if not any(arc.endswith(".so") for arc, _ in files):
        raise BuildError("the build produced no %s*.so in %s" % (TARGET, package_dir))
    return files


def _record_line(arcname, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "%s,sha256=%s,%d" % (arcname, digest, len(data))


def _write_dist_info(directory):
    name = "%s-%s.dist-info" % (DIST_NAME, _version())
    path = os.path.join(directory, name)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "METADATA"), "w", encoding="utf-8") as f:
        f.write(_metadata())
    return name


# --- PEP 517 hooks ---------------------------------------------------------

def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    return _write_dist_info(metadata_directory)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    package_dir = _compile(config_settings)
    py, abi, plat = _tag()
    version = _version()
    wheel_name = "%s-%s-%s-%s-%s.whl" % (DIST_NAME, version, py, abi, plat)
    dist_info = "%s-%s.dist-info" % (DIST_NAME, version)
    wheel_meta = ("Wheel-Version: 1.0\nGenerator: durus_bdb_build\n"
                  "Root-Is-Purelib: false\nTag: %s-%s-%s\n" % (py, abi, plat))
    records = []
    os.makedirs(wheel_directory, exist_ok=True)
    target = os.path.join(wheel_directory, wheel_name)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        def add(arcname, data, mode=0o644):
            info = zipfile.ZipInfo(arcname, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
            records.append(_record_line(arcname, data))
        for arcname, path in _package_files(package_dir):
            with open(path, "rb") as f:
                add(arcname, f.read(), 0o755 if arcname.endswith(".so") else 0o644)
        add(dist_info + "/METADATA", _metadata().encode("utf-8"))
        add(dist_info + "/WHEEL", wheel_meta.encode())
        records.append(dist_info + "/RECORD,,")
        zf.writestr(zipfile.ZipInfo(dist_info + "/RECORD", date_time=(1980, 1, 1, 0, 0, 0)),
                    "\n".join(records) + "\n")
    return wheel_name


def build_sdist(sdist_directory, config_settings=None):
    """The git-tracked files (or the whole tree without git), under
    durus_bdb-VERSION/, with a PKG-INFO."""
    import tarfile
    version = _version()
    base = "%s-%s" % (DIST_NAME, version)
    try:
        names = subprocess.run(["git", "-C", SOURCE_DIR, "ls-files", "-z"], check=True,
                               stdout=subprocess.PIPE).stdout.decode().split("\0")
        names = [n for n in names if n and os.path.isfile(os.path.join(SOURCE_DIR, n))]
    except (OSError, subprocess.CalledProcessError):
        raise BuildError("sdist: needs a git checkout (git ls-files lists what to ship)")
    name = base + ".tar.gz"
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as tf:
        for n in names:
            tf.add(os.path.join(SOURCE_DIR, n), arcname=base + "/" + n, recursive=False)
        pkg_info = _metadata().encode("utf-8")
        info = tarfile.TarInfo(base + "/PKG-INFO")
        info.size = len(pkg_info)
        import io
        tf.addfile(info, io.BytesIO(pkg_info))
    return name
