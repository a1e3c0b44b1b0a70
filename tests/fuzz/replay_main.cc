// A main() for the fuzz targets when they are not built with libFuzzer
// (DURUS_FUZZ off, any compiler): runs LLVMFuzzerTestOneInput over every
// file of the directories (or files) given, so the seed corpora and every
// crash ever found run as regression tests in ordinary CI.
#include <dirent.h>
#include <sys/stat.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

void RunFile(const std::string& path, size_t* n) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  ++*n;
}

}  // namespace

int main(int argc, char** argv) {
  size_t n = 0;
  for (int i = 1; i < argc; ++i) {
    std::string p = argv[i];
    if (p.rfind("-", 0) == 0) continue;  // libFuzzer-style flags: ignored
    struct stat st;
    if (stat(p.c_str(), &st) != 0) {
      fprintf(stderr, "cannot stat %s\n", p.c_str());
      return 2;
    }
    if (S_ISDIR(st.st_mode)) {
      DIR* d = opendir(p.c_str());
      std::vector<std::string> names;
      while (dirent* e = readdir(d)) {
        if (e->d_name[0] != '.') names.push_back(p + "/" + e->d_name);
      }
      closedir(d);
      for (const auto& f : names) RunFile(f, &n);
    } else {
      RunFile(p, &n);
    }
  }
  printf("replayed %zu inputs\n", n);
  return n > 0 ? 0 : 1;
}
