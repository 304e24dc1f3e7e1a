// tests/support/subprocess.h — run a built tool as a subprocess and capture
// what it printed, for the end-to-end tests of fwctl and fwbench.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace fw::test {

struct RunResult {
  int exit_code = -1;  // valid when the process exited normally
  int signal = 0;      // non-zero when it was killed by a signal (a crash)
  std::string out;
  std::string err;
  bool started = false;  // false if the program could not be run at all
};

// Runs `program args...` with stdin from /dev/null; stdout and stderr go to
// files in `scratch_dir` (overwritten) and are returned.
RunResult run_program(const std::string& program, const std::vector<std::string>& args,
                      const std::filesystem::path& scratch_dir);

std::string read_file(const std::filesystem::path& path);
std::vector<std::string> split_lines(const std::string& text);

}  // namespace fw::test
