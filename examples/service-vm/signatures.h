// examples/service-vm/signatures.h — the service VM's signature file and its
// compiled Hyperscan database.
//
// Usage:
//   auto parsed = svm::load_signature_file("signatures.sample");
//   if (!parsed.ok()) return report(parsed.status());   // "file:12: ..."
//   auto db = svm::SignatureDatabase::compile(std::move(*parsed));
//   if (!db.ok()) return report(db.status());          // names the signature
//   svm::ScratchPtr scratch = (*db)->make_scratch();   // once per worker thread
//
// File format (docs/service-vm.md has the full description): one signature a
// line, fields separated by blanks:
//
//   ID  ACTION  TYPE  PATTERN  [DIRECTION]
//   1001 block content "|2f|etc|2f|passwd" to-server
//   2001 alert regex   /user-agent:\s*sqlmap/i any
//
// '#' starts a comment line; blank lines are ignored. Errors name
// "<file>:<line>: " and the field.
//
// The database is compiled once, in HS_MODE_STREAM, from the signatures
// sorted by id, so the same set of signatures gives the same database
// whatever their order in the file (STYLE 11). Each expression carries
// HS_FLAG_SINGLEMATCH: a signature reports at most once per stream.
//
// Thread-safety: parsing functions are reentrant. A SignatureDatabase is
// immutable after compile() and may be shared by every thread; each thread
// scans with its own scratch from make_scratch() (a clone of the prototype,
// STYLE 4).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "fw/status.h"

struct hs_database;
struct hs_scratch;

namespace svm {

enum class SignatureAction : std::uint8_t { kBlock, kAlert };
enum class SignatureType : std::uint8_t { kContent, kRegex };
// Which half of a flow a signature applies to. The client is the side that
// opened the flow (docs/service-vm.md, "Flows").
enum class SignatureDirection : std::uint8_t { kAny, kToServer, kToClient };

std::string_view action_name(SignatureAction action) noexcept;
std::string_view direction_name(SignatureDirection direction) noexcept;

// Bounds on what a signature file may hold.
inline constexpr std::size_t kMaxSignatures = 100'000;
inline constexpr std::size_t kMaxLineLength = 8192;
inline constexpr std::size_t kMaxSignatureFileBytes = 64u << 20;

struct Signature {
  std::uint32_t id = 0;  // 1 .. 2^32-1, unique in the file
  SignatureAction action = SignatureAction::kBlock;
  SignatureType type = SignatureType::kContent;
  SignatureDirection direction = SignatureDirection::kAny;
  std::string pattern;     // the pattern field as written in the file
  std::string expression;  // what Hyperscan compiles (content: \xHH escapes)
  unsigned int hs_flags = 0;  // HS_FLAG_* (CASELESS, DOTALL, ... and SINGLEMATCH)
  std::string source;      // "<file>:<line>", for error messages
};

// Parses the text of a signature file. `source_name` prefixes every error
// ("rules.txt:7: regex: missing closing '/'"). Fails on the first bad line.
fw::StatusOr<std::vector<Signature>> parse_signatures(std::string_view text,
                                                      std::string_view source_name);
// Reads and parses a file (at most kMaxSignatureFileBytes).
fw::StatusOr<std::vector<Signature>> load_signature_file(const std::string& path);

struct ScratchDeleter {
  void operator()(hs_scratch* scratch) const noexcept;
};
using ScratchPtr = std::unique_ptr<hs_scratch, ScratchDeleter>;

class SignatureDatabase {
 public:
  // Sorts `signatures` by id and compiles them with hs_compile_multi in
  // HS_MODE_STREAM. A compile error names the signature ("signature 1002
  // (rules.txt:9): ..."). Fails on an empty set.
  static fw::StatusOr<std::shared_ptr<const SignatureDatabase>> compile(
      std::vector<Signature> signatures);
  ~SignatureDatabase();
  SignatureDatabase(const SignatureDatabase&) = delete;
  SignatureDatabase& operator=(const SignatureDatabase&) = delete;

  const hs_database* database() const noexcept { return database_; }
  // Signatures in id order; the Hyperscan expression id is the index here.
  const std::vector<Signature>& signatures() const noexcept { return signatures_; }
  // A scratch for one thread, cloned from the prototype. Thread-safe (the
  // clone is serialised with a mutex). Returns null only when out of memory.
  ScratchPtr make_scratch() const;
  // Bytes of stream state per open stream (hs_stream_size).
  std::size_t stream_state_bytes() const noexcept { return stream_state_bytes_; }
  // Serialised database: equal bytes for equal signature sets (tests).
  std::string serialize() const;

 private:
  SignatureDatabase() = default;
  hs_database* database_ = nullptr;
  hs_scratch* prototype_scratch_ = nullptr;
  std::size_t stream_state_bytes_ = 0;
  std::vector<Signature> signatures_;
  mutable std::mutex clone_mutex_;  // guards prototype_scratch_ while cloning
};

}  // namespace svm
