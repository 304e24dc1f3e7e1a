// tests/support/scratch_dir.h — a private temporary directory for one test,
// removed with everything in it when the object goes away.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace fw::test {

class ScratchDir {
 public:
  // Creates <$TMPDIR or /tmp>/<prefix>.XXXXXX; throws std::runtime_error if
  // it cannot (the test then fails with the reason).
  explicit ScratchDir(std::string_view prefix);
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::filesystem::path& path() const noexcept { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }
  // Writes `contents` to <dir>/<name> (binary) and returns the file's path.
  std::string write(const std::string& name, std::string_view contents) const;

 private:
  std::filesystem::path path_;
};

}  // namespace fw::test
