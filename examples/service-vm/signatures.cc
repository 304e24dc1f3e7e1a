#include "examples/service-vm/signatures.h"

#include <hs/hs.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>
#include <unordered_set>

#include <fmt/core.h>

namespace svm {
namespace {

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Cursor over one line; every error is "<source>: <message>".
class LineReader {
 public:
  explicit LineReader(std::string_view line) : line_(line) {}
  void skip_blanks() {
    while (pos_ < line_.size() && is_blank(line_[pos_])) ++pos_;
  }
  bool at_end() {
    skip_blanks();
    return pos_ >= line_.size();
  }
  std::string_view word() {
    skip_blanks();
    std::size_t start = pos_;
    while (pos_ < line_.size() && !is_blank(line_[pos_])) ++pos_;
    return line_.substr(start, pos_ - start);
  }
  std::string_view rest() const { return line_.substr(pos_); }
  std::size_t& pos() { return pos_; }
  std::string_view line() const { return line_; }

 private:
  std::string_view line_;
  std::size_t pos_ = 0;
};

// Content: "text|2f 65|text" with \" \\ \| escapes. Returns the raw bytes
// or an error message.
std::string parse_content(LineReader& reader, std::string& bytes, std::string& written) {
  reader.skip_blanks();
  std::string_view line = reader.line();
  std::size_t& pos = reader.pos();
  std::size_t start = pos;
  if (pos >= line.size() || line[pos] != '"')
    return "content: the pattern must be in double quotes, e.g. \"GET /admin\" or \"|de ad|\"";
  ++pos;
  bool in_hex = false;
  int pending_nibble = -1;
  for (;;) {
    if (pos >= line.size()) return "content: missing closing '\"'";
    char c = line[pos++];
    if (in_hex) {
      if (c == '|') {
        if (pending_nibble >= 0) return "content: odd number of hex digits between '|'";
        in_hex = false;
      } else if (c == ' ') {
        if (pending_nibble >= 0) return "content: hex digits must come in pairs";
      } else if (int v = hex_value(c); v >= 0) {
        if (pending_nibble < 0) {
          pending_nibble = v;
        } else {
          bytes.push_back(static_cast<char>(pending_nibble << 4 | v));
          pending_nibble = -1;
        }
      } else if (c == '"') {
        return "content: missing closing '|' of a hex block";
      } else {
        return fmt::format("content: '{}' is not a hex digit (inside |...|)", c);
      }
      continue;
    }
    if (c == '"') break;
    if (c == '|') {
      in_hex = true;
      continue;
    }
    if (c == '\\') {
      if (pos >= line.size()) return "content: '\\' at the end of the line";
      char e = line[pos++];
      if (e != '"' && e != '\\' && e != '|')
        return fmt::format("content: unknown escape '\\{}' (only \\\" \\\\ \\| ; use |hex| for bytes)", e);
      bytes.push_back(e);
      continue;
    }
    bytes.push_back(c);
  }
  if (pos < line.size() && !is_blank(line[pos]))
    return "content: unexpected text right after the closing '\"'";
  if (bytes.empty()) return "content: the pattern is empty";
  written.assign(line.substr(start, pos - start));
  return {};
}

// Regex: /expression/flags; an unescaped '/' ends the expression.
std::string parse_regex(LineReader& reader, std::string& expression, unsigned int& flags,
                        std::string& written) {
  reader.skip_blanks();
  std::string_view line = reader.line();
  std::size_t& pos = reader.pos();
  std::size_t start = pos;
  if (pos >= line.size() || line[pos] != '/')
    return "regex: the pattern must be written /expression/flags, e.g. /user-agent:\\s*curl/i";
  ++pos;
  for (;;) {
    if (pos >= line.size()) return "regex: missing closing '/'";
    char c = line[pos++];
    if (c == '\\') {
      if (pos >= line.size()) return "regex: '\\' at the end of the line";
      expression.push_back(c);
      expression.push_back(line[pos++]);
      continue;
    }
    if (c == '/') break;
    expression.push_back(c);
  }
  if (expression.empty()) return "regex: the expression is empty";
  while (pos < line.size() && !is_blank(line[pos])) {
    char f = line[pos++];
    switch (f) {
      case 'i': flags |= HS_FLAG_CASELESS; break;
      case 's': flags |= HS_FLAG_DOTALL; break;
      case 'm': flags |= HS_FLAG_MULTILINE; break;
      default:
        return fmt::format("regex: unknown flag '{}' (known: i caseless, s dotall, m multiline)", f);
    }
  }
  written.assign(line.substr(start, pos - start));
  return {};
}

std::string content_expression(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 4);
  for (unsigned char b : bytes) out += fmt::format("\\x{:02x}", b);
  return out;
}

// Parses one non-comment line; returns an error message (without the source) or "".
std::string parse_line(std::string_view line, Signature& sig) {
  LineReader reader(line);
  std::string_view id_text = reader.word();
  std::uint64_t id = 0;
  auto [end, ec] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), id);
  if (ec != std::errc() || end != id_text.data() + id_text.size() || id == 0 || id > UINT32_MAX)
    return fmt::format("id: '{}' is not a number in 1..4294967295", id_text);
  sig.id = static_cast<std::uint32_t>(id);

  std::string_view action = reader.word();
  if (action == "block") {
    sig.action = SignatureAction::kBlock;
  } else if (action == "alert") {
    sig.action = SignatureAction::kAlert;
  } else if (action.empty()) {
    return "action: missing (block or alert)";
  } else {
    return fmt::format("action: '{}' is not block or alert", action);
  }

  std::string_view type = reader.word();
  if (type == "content") {
    sig.type = SignatureType::kContent;
    std::string bytes;
    if (std::string e = parse_content(reader, bytes, sig.pattern); !e.empty()) return e;
    sig.expression = content_expression(bytes);
  } else if (type == "regex") {
    sig.type = SignatureType::kRegex;
    if (std::string e = parse_regex(reader, sig.expression, sig.hs_flags, sig.pattern); !e.empty())
      return e;
  } else if (type.empty()) {
    return "type: missing (content or regex)";
  } else {
    return fmt::format("type: '{}' is not content or regex", type);
  }
  sig.hs_flags |= HS_FLAG_SINGLEMATCH;

  sig.direction = SignatureDirection::kAny;
  if (!reader.at_end()) {
    std::string_view direction = reader.word();
    if (direction == "to-server") {
      sig.direction = SignatureDirection::kToServer;
    } else if (direction == "to-client") {
      sig.direction = SignatureDirection::kToClient;
    } else if (direction != "any") {
      return fmt::format("direction: '{}' is not to-server, to-client or any", direction);
    }
  }
  if (!reader.at_end())
    return fmt::format("unexpected text after the signature: '{}'", reader.rest());
  return {};
}

}  // namespace

std::string_view action_name(SignatureAction action) noexcept {
  return action == SignatureAction::kBlock ? "block" : "alert";
}

std::string_view direction_name(SignatureDirection direction) noexcept {
  switch (direction) {
    case SignatureDirection::kToServer: return "to-server";
    case SignatureDirection::kToClient: return "to-client";
    case SignatureDirection::kAny: break;
  }
  return "any";
}

fw::StatusOr<std::vector<Signature>> parse_signatures(std::string_view text,
                                                      std::string_view source_name) {
  std::vector<Signature> out;
  std::unordered_set<std::uint32_t> ids;
  std::size_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    std::size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view{} : text.substr(newline + 1);
    std::string source = fmt::format("{}:{}", source_name, line_number);
    if (line.size() > kMaxLineLength)
      return fw::invalid_argument(
          fmt::format("{}: line longer than {} bytes", source, kMaxLineLength));
    LineReader probe(line);
    if (probe.at_end() || probe.rest().front() == '#') continue;
    if (out.size() == kMaxSignatures)
      return fw::resource_exhausted(
          fmt::format("{}: more than {} signatures", source, kMaxSignatures));
    Signature sig;
    if (std::string e = parse_line(line, sig); !e.empty())
      return fw::invalid_argument(fmt::format("{}: {}", source, e));
    if (!ids.insert(sig.id).second) {
      auto first = std::find_if(out.begin(), out.end(),
                                [&](const Signature& s) { return s.id == sig.id; });
      return fw::invalid_argument(
          fmt::format("{}: id: {} is already used at {}", source, sig.id, first->source));
    }
    sig.source = std::move(source);
    out.push_back(std::move(sig));
  }
  return out;
}

fw::StatusOr<std::vector<Signature>> load_signature_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fw::io_error(fmt::format("cannot read signature file '{}'", path));
  std::string text;
  char buffer[65536];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    text.append(buffer, static_cast<std::size_t>(in.gcount()));
    if (text.size() > kMaxSignatureFileBytes)
      return fw::resource_exhausted(fmt::format(
          "signature file '{}' is larger than {} bytes", path, kMaxSignatureFileBytes));
  }
  if (in.bad()) return fw::io_error(fmt::format("error reading signature file '{}'", path));
  return parse_signatures(text, path);
}

void ScratchDeleter::operator()(hs_scratch* scratch) const noexcept { hs_free_scratch(scratch); }

fw::StatusOr<std::shared_ptr<const SignatureDatabase>> SignatureDatabase::compile(
    std::vector<Signature> signatures) {
  if (signatures.empty()) return fw::invalid_argument("no signatures to compile");
  // Sorted by id: the database does not depend on the order of the file.
  std::sort(signatures.begin(), signatures.end(),
            [](const Signature& a, const Signature& b) { return a.id < b.id; });
  std::vector<const char*> expressions;
  std::vector<unsigned int> flags;
  std::vector<unsigned int> ids;
  expressions.reserve(signatures.size());
  for (std::size_t i = 0; i < signatures.size(); ++i) {
    expressions.push_back(signatures[i].expression.c_str());
    flags.push_back(signatures[i].hs_flags);
    ids.push_back(static_cast<unsigned int>(i));
  }
  std::shared_ptr<SignatureDatabase> db(new SignatureDatabase());
  hs_compile_error_t* error = nullptr;
  hs_error_t rc = hs_compile_multi(expressions.data(), flags.data(), ids.data(),
                                   static_cast<unsigned int>(expressions.size()), HS_MODE_STREAM,
                                   nullptr, &db->database_, &error);
  if (rc != HS_SUCCESS) {
    std::string message = error != nullptr && error->message != nullptr ? error->message
                                                                        : "unknown error";
    int index = error != nullptr ? error->expression : -1;
    hs_free_compile_error(error);
    if (index >= 0 && static_cast<std::size_t>(index) < signatures.size()) {
      const Signature& sig = signatures[static_cast<std::size_t>(index)];
      return fw::invalid_argument(fmt::format("{}: signature {}: Hyperscan cannot compile {}: {}",
                                              sig.source, sig.id, sig.pattern, message));
    }
    return fw::invalid_argument(
        fmt::format("Hyperscan cannot compile the signature set: {}", message));
  }
  if (hs_alloc_scratch(db->database_, &db->prototype_scratch_) != HS_SUCCESS)
    return fw::resource_exhausted("cannot allocate Hyperscan scratch");
  if (hs_stream_size(db->database_, &db->stream_state_bytes_) != HS_SUCCESS)
    return fw::internal_error("hs_stream_size failed");
  db->signatures_ = std::move(signatures);
  return std::shared_ptr<const SignatureDatabase>(std::move(db));
}

SignatureDatabase::~SignatureDatabase() {
  hs_free_scratch(prototype_scratch_);
  hs_free_database(database_);
}

ScratchPtr SignatureDatabase::make_scratch() const {
  std::lock_guard<std::mutex> lock(clone_mutex_);
  hs_scratch_t* clone = nullptr;
  if (hs_clone_scratch(prototype_scratch_, &clone) != HS_SUCCESS) return nullptr;
  return ScratchPtr(clone);
}

std::string SignatureDatabase::serialize() const {
  char* bytes = nullptr;
  std::size_t length = 0;
  if (hs_serialize_database(database_, &bytes, &length) != HS_SUCCESS) return {};
  std::string out(bytes, length);
  std::free(bytes);
  return out;
}

}  // namespace svm
