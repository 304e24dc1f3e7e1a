// End-to-end tests of `fwctl replay --redirect-policy`: the sample redirect
// policy (examples/data/redirect-policy.textpb) on a committed TCP capture;
// each packet's path through the services, failure policies, and the
// frames the services receive (--service-out), NSH included.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <thread>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "fw/nsh.h"
#include "support/packet_builder.h"
#include "support/scratch_dir.h"
#include "support/subprocess.h"

namespace {

using fw::test::RunResult;
using fw::test::split_lines;
namespace fs = std::filesystem;

const std::string kFwctl = FWCTL_PATH;
const fs::path kData = FWCTL_DATA_DIR;
const std::string kCapture = (kData / "tcp-split-handshake.pcap").string();
const std::string kRedirect = (kData / "redirect-policy.textpb").string();
const std::string kServiceVm = SERVICE_VM_PATH;

class FwctlServiceTest : public ::testing::Test {
 protected:
  RunResult run(const std::vector<std::string>& args) const {
    RunResult result = fw::test::run_program(kFwctl, args, scratch_.path());
    if (!result.started) ADD_FAILURE() << result.err;
    EXPECT_EQ(result.signal, 0) << "fwctl crashed; stderr: " << result.err;
    return result;
  }
  // "via=" field of each verdict line ("" when none).
  static std::vector<std::string> vias(const std::string& out) {
    std::vector<std::string> v;
    for (const std::string& line : split_lines(out)) {
      const std::size_t at = line.find(" via=");
      v.push_back(at == std::string::npos ? "" : line.substr(at + 5));
    }
    return v;
  }
  fw::test::ScratchDir scratch_{"fwctl_service_test"};
};

TEST_F(FwctlServiceTest, WebTrafficVisitsTheChainBothWaysOnOneIdsInstance) {
  const RunResult r = run({"replay", "--pcap", kCapture, "--redirect-policy", kRedirect, "--verdicts", "-", "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::string> lines = split_lines(r.out);
  const std::vector<std::string> via = vias(r.out);
  ASSERT_EQ(lines.size(), 7u) << r.out;
  // Forward: ids then ngfw; replies: ngfw then the same ids instance.
  const std::string ids = via[0].substr(0, 3);
  ASSERT_TRUE(ids == "101" || ids == "102") << via[0];
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const bool from_vm = lines[i].find(" from-vm ") != std::string::npos;
    EXPECT_EQ(via[i], from_vm ? ids + ",201" : "201," + ids) << lines[i];
    EXPECT_NE(lines[i].find(" pass slot=- "), std::string::npos) << lines[i];
  }
}

TEST_F(FwctlServiceTest, SummaryCountsPathsAndAgreesWithTheEngine) {
  const RunResult r = run({"replay", "--pcap", kCapture, "--redirect-policy", kRedirect});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("chain     generation 4: slot 2 dfw, slot 4 service-insertion"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("back from services                        14           8           6"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("engine counters agree with the verdicts"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("--redirect-policy without --policy"), std::string::npos) << r.err;
}

TEST_F(FwctlServiceTest, FailClosedDropsAndFailOpenSkips) {
  // ngfw (fail-closed) down: every packet of the flow dropped by rule 20.
  RunResult r = run({"replay", "--pcap", kCapture, "--redirect-policy", kRedirect, "--service-down", "ngfw:0",
                     "--verdicts", "-", "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const std::string& line : split_lines(r.out))
    EXPECT_NE(line.find(" drop slot=4 rule=20 reason=service-down "), std::string::npos) << line;
  // Both ids instances down (fail-open): straight to ngfw.
  r = run({"replay", "--pcap", kCapture, "--redirect-policy", kRedirect, "--service-down", "ids:0", "--service-down",
           "ids:1", "--verdicts", "-", "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const std::string& via : vias(r.out)) EXPECT_EQ(via, "201");
}

TEST_F(FwctlServiceTest, ServiceOutHoldsWhatEachServiceReceivedNshForNgfw) {
  const std::string out = (scratch_.path() / "services.pcap").string();
  const RunResult r =
      run({"replay", "--pcap", kCapture, "--redirect-policy", kRedirect, "--service-out", out, "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto frames = fw::test::read_pcap(out);
  ASSERT_TRUE(frames.ok()) << frames.status().to_string();
  ASSERT_EQ(frames->size(), 14u);
  auto original = fw::test::read_pcap(kCapture);
  ASSERT_TRUE(original.ok());
  std::size_t nsh = 0, plain = 0;
  for (const auto& f : *frames) {
    const std::vector<std::uint8_t>& bytes = f.bytes;
    ASSERT_GE(bytes.size(), 14u);
    if (bytes[12] == 0x89 && bytes[13] == 0x4f) {
      ++nsh;
      fw::NshDecoded d;
      ASSERT_EQ(fw::nsh_decapsulate(bytes, d, {.framing = fw::NshFraming::kEthernetNsh}), fw::NshError::kOk);
      EXPECT_EQ(d.context.spi, 100u);
      EXPECT_EQ(d.context.rule_id, 20u);
      EXPECT_EQ(d.context.vnic_id, 1u);
      // ngfw is the second hop forward (SI 254) and the first back (SI 255).
      EXPECT_TRUE(d.context.si == 254 || d.context.si == 255) << int{d.context.si};
      bool found = false;
      for (const auto& o : *original)
        found = found || (o.bytes.size() == d.payload.size() &&
                          std::memcmp(o.bytes.data(), d.payload.data(), o.bytes.size()) == 0);
      EXPECT_TRUE(found) << "the NSH payload is not a captured frame";
    } else {
      ++plain;
    }
  }
  EXPECT_EQ(nsh, 7u);
  EXPECT_EQ(plain, 7u);
}

TEST_F(FwctlServiceTest, BadInputsFailWithClearErrors) {
  RunResult r = run({"replay", "--pcap", kCapture, "--service-out", "x.pcap"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--service-out, --service-socket and --service-down need --redirect-policy"), std::string::npos) << r.err;
  r = run({"replay", "--pcap", kCapture, "--redirect-policy", "missing.textpb"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("bad redirect policy"), std::string::npos) << r.err;
  r = run({"replay", "--pcap", kCapture, "--redirect-policy", kRedirect, "--service-down", "nope:0"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no profile nope"), std::string::npos) << r.err;
  r = run({"replay", "--pcap", kCapture, "--redirect-policy", kRedirect, "--service-down", "ids"});
  EXPECT_EQ(r.exit_code, 2);
}

// fwctl as the host of examples/service-vm: each redirected frame goes to
// the service over its Unix socket; the service's block stops the packet and
// blocks the flow; its allow hands the packet back.
TEST_F(FwctlServiceTest, TheServiceVmDecidesOverItsSocket) {
  const std::string socket_path = (scratch_.path() / "ids.sock").string();
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const std::string signatures = (kData / ".." / "service-vm" / "signatures.sample").string();
    std::freopen("/dev/null", "w", stdout);
    execl(kServiceVm.c_str(), kServiceVm.c_str(), "--signatures", signatures.c_str(), "--socket",
          socket_path.c_str(), "--quiet", static_cast<char*>(nullptr));
    _exit(127);
  }
  for (int i = 0; i < 500 && !fs::exists(socket_path); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(fs::exists(socket_path)) << "service-vm did not start";
  const RunResult r = run({"replay", "--pcap", (kData / "service-vm-sample.pcap").string(), "--redirect-policy",
                           (kData / "redirect-to-ids.textpb").string(), "--service-socket", socket_path, "--verdicts",
                           "-", "--quiet"});
  kill(child, SIGTERM);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::size_t service_drops = 0, flow_blocks = 0, passes = 0;
  for (const std::string& line : split_lines(r.out)) {
    if (line.find("reason=service-drop") != std::string::npos) ++service_drops;
    if (line.find("reason=service-flow-block") != std::string::npos) ++flow_blocks;
    if (line.find(" pass ") != std::string::npos) ++passes;
  }
  // The sample holds 7 flows, 4 of which carry a block signature: each is
  // dropped by the service once (the frame that completes the match), and
  // its later packets by the flow verdict without visiting the service.
  EXPECT_EQ(service_drops, 4u) << r.out;
  EXPECT_GE(flow_blocks, 4u) << r.out;
  EXPECT_EQ(service_drops + flow_blocks + passes, split_lines(r.out).size()) << r.out;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "service-vm exit status " << status;
  // No service listening: a clear error.
  const RunResult none = run({"replay", "--pcap", kCapture, "--redirect-policy", kRedirect, "--service-socket",
                              (scratch_.path() / "nobody.sock").string()});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.err.find("cannot connect to the service"), std::string::npos) << none.err;
}

}  // namespace
