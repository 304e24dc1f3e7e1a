// A strict reading of a JSON policy against the schema, run before
// protobuf's JSON parser. protobuf 3.21's parser gives no line or column,
// and it is lenient where a firewall policy must not be: it takes the last
// of duplicate keys ("action": "DROP", "action": "ALLOW" allows), reads any
// string but "false" as true ("negate": "no" negates), drops null list
// elements, takes an object where a list is expected, and accepts trailing
// commas. This check refuses all of that with the line, the column and the
// field path of the first problem; protobuf then only converts.
//
// Accepted, as the proto3 JSON mapping says: field names as in the .proto
// or in lowerCamelCase; uint32 as a number or a string of digits; enums by
// name or number; null for an absent singular or repeated field.
#include "libfw/policy/json_check.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>
#include <google/protobuf/descriptor.h>

#include "libfw/policy/internal.h"

namespace fw::policy_internal {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

// Length of the well-formed UTF-8 sequence at `pos`, 0 if malformed.
std::size_t utf8_sequence_length(std::string_view in, std::size_t pos) {
  auto at = [&](std::size_t k) -> unsigned {
    return pos + k < in.size() ? static_cast<unsigned char>(in[pos + k]) : 0u;
  };
  auto cont = [&](std::size_t k, unsigned low = 0x80, unsigned high = 0xbf) { return at(k) >= low && at(k) <= high; };
  const unsigned c = at(0);
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c == 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (c == 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
  if (c == 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xf1 && c <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c == 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

const FieldDescriptor* find_field(const Descriptor& message, std::string_view key) {
  for (int i = 0; i < message.field_count(); ++i) {
    const FieldDescriptor* field = message.field(i);
    if (field->name() == key || field->json_name() == key) return field;
  }
  return nullptr;
}

std::string field_names(const Descriptor& message) {
  std::string out;
  for (int i = 0; i < message.field_count(); ++i) out += (i ? ", " : "") + message.field(i)->name();
  return out;
}

std::string enum_names(const google::protobuf::EnumDescriptor& e) {
  std::string out;
  for (int i = 0; i < e.value_count(); ++i) {
    const std::string& name = e.value(i)->name();
    if (e.value(i)->number() == 0 && name.ends_with("_UNSPECIFIED")) continue;
    out += (out.empty() ? "" : ", ") + name;
  }
  return out;
}

class JsonCheck {
 public:
  explicit JsonCheck(std::string_view in) : in_(in) {}

  Status run(const Descriptor& root) {
    skip_space();
    if (at_end()) return fail("empty input; a JSON policy is an object { ... }");
    if (peek() != '{') return fail(fmt::format("found {}; a JSON policy is an object {{ ... }}", describe()));
    if (!message(root, 1)) return error_;
    skip_space();
    if (!at_end()) return fail(fmt::format("found {} after the end of the policy object", describe()));
    return Status::Ok();
  }

 private:
  struct Position {
    int line;
    std::size_t column;
  };

  bool at_end() const { return pos_ >= in_.size(); }
  char peek() const { return in_[pos_]; }
  Position position() const { return {line_, pos_ - line_start_ + 1}; }

  std::string path() const {
    std::string out;
    for (const std::string& part : path_) out += (out.empty() || part.starts_with("[") ? "" : ".") + part;
    return out;
  }

  Status fail(const std::string& message, std::optional<Position> at = std::nullopt) {
    const Position p = at ? *at : position();
    const std::string where = path();
    error_ = invalid_argument(fmt::format("line {}, column {}: {}{}", p.line, p.column, where.empty() ? "" : where + ": ",
                                          message));
    return error_;
  }
  bool failed(const std::string& message, std::optional<Position> at = std::nullopt) {
    fail(message, at).ignore_error();
    return false;
  }

  // The token at the cursor, for "found X" and "got X".
  std::string describe() const {
    if (at_end()) return "end of input";
    switch (peek()) {
      case '{': return "an object";
      case '[': return "a list";
      case '"': {
        const std::size_t end = in_.find('"', pos_ + 1);
        const std::string_view text = in_.substr(pos_ + 1, end == std::string_view::npos ? 0 : end - pos_ - 1);
        const bool plain = std::all_of(text.begin(), text.end(), [](char c) {
          return static_cast<unsigned char>(c) >= 0x20 && c != '\\';
        });
        return plain && text.size() <= 40 ? fmt::format("the string \"{}\"", text) : "a string";
      }
      default: break;
    }
    const auto c = static_cast<unsigned char>(peek());
    if (c == '-' || (c >= '0' && c <= '9')) {
      std::size_t end = pos_;
      while (end < in_.size() && end - pos_ < 24 && std::string_view("+-.eE0123456789").find(in_[end]) != std::string_view::npos) ++end;
      return fmt::format("the number {}", in_.substr(pos_, end - pos_));
    }
    for (std::string_view word : {"true", "false", "null"}) {
      if (in_.substr(pos_, word.size()) == word) return std::string(word);
    }
    if (c > 0x20 && c < 0x7f) return fmt::format("'{}'", static_cast<char>(c));
    return fmt::format("byte 0x{:02x}", c);
  }

  void skip_space() {
    while (!at_end()) {
      const char c = peek();
      if (c == '\n') {
        ++line_;
        line_start_ = pos_ + 1;
      } else if (c != ' ' && c != '\t' && c != '\r') {
        return;
      }
      ++pos_;
    }
  }

  bool expect_more(char closing) {
    skip_space();
    if (at_end()) return failed(fmt::format("unexpected end of input; expected ',' or '{}'", closing));
    return true;
  }

  // ---- schema-directed values ---------------------------------------------------

  bool message(const Descriptor& type, int depth) {
    if (depth > kMaxJsonDepth) return failed(fmt::format("nesting deeper than {} levels", kMaxJsonDepth));
    ++pos_;  // '{'
    skip_space();
    if (!at_end() && peek() == '}') {
      ++pos_;
      return true;
    }
    std::unordered_map<int, Position> seen;  // field number -> where
    for (;;) {
      skip_space();
      if (at_end() || peek() != '"')
        return failed(fmt::format("expected a field name in double quotes, found {}", describe()));
      const Position key_at = position();
      std::string key;
      if (!string(&key)) return false;
      const FieldDescriptor* field = find_field(type, key);
      if (!field)
        return failed(fmt::format("unknown field \"{}\" in {}; its fields are {}", key, type.full_name(),
                                  field_names(type)),
                      key_at);
      if (auto [it, fresh] = seen.emplace(field->number(), key_at); !fresh)
        return failed(fmt::format("field \"{}\" given twice (first at line {}, column {})", field->name(),
                                  it->second.line, it->second.column),
                      key_at);
      skip_space();
      if (at_end() || peek() != ':')
        return failed(fmt::format("expected ':' after the field name, found {}", describe()));
      ++pos_;
      path_.push_back(field->name());
      if (!field_value(*field, depth)) return false;
      path_.pop_back();
      if (!expect_more('}')) return false;
      if (peek() == '}') {
        ++pos_;
        return true;
      }
      if (peek() != ',') return failed(fmt::format("expected ',' or '}}' after a field, found {}", describe()));
      ++pos_;
      skip_space();
      if (!at_end() && peek() == '}') return failed("trailing comma before '}'");
    }
  }

  bool field_value(const FieldDescriptor& field, int depth) {
    skip_space();
    if (at_end()) return failed("unexpected end of input; expected a value");
    if (peek() == 'n') return literal("null");  // the field's default: absent
    if (!field.is_repeated()) return element(field, depth);
    if (peek() != '[') return failed(fmt::format("want a list [ ... ], got {}", describe()));
    if (depth + 1 > kMaxJsonDepth) return failed(fmt::format("nesting deeper than {} levels", kMaxJsonDepth));
    ++pos_;
    skip_space();
    if (!at_end() && peek() == ']') {
      ++pos_;
      return true;
    }
    for (std::size_t index = 0;; ++index) {
      path_.push_back(fmt::format("[{}]", index));
      skip_space();
      if (!at_end() && peek() == 'n') return failed("null in a list; remove it");
      if (!element(field, depth + 1)) return false;
      path_.pop_back();
      if (!expect_more(']')) return false;
      if (peek() == ']') {
        ++pos_;
        return true;
      }
      if (peek() != ',') return failed(fmt::format("expected ',' or ']' after an element, found {}", describe()));
      ++pos_;
      skip_space();
      if (!at_end() && peek() == ']') return failed("trailing comma before ']'");
    }
  }

  bool element(const FieldDescriptor& field, int depth) {
    skip_space();
    if (at_end()) return failed("unexpected end of input; expected a value");
    switch (field.type()) {
      case FieldDescriptor::TYPE_MESSAGE:
        if (peek() != '{')
          return failed(fmt::format("want an object {{ ... }} ({}), got {}", field.message_type()->full_name(), describe()));
        return message(*field.message_type(), depth + 1);
      case FieldDescriptor::TYPE_STRING:
        if (peek() != '"') return failed(fmt::format("want a string, got {}", describe()));
        return string(nullptr);
      case FieldDescriptor::TYPE_BOOL:
        if (in_.substr(pos_, 4) == "true") return literal("true");
        if (in_.substr(pos_, 5) == "false") return literal("false");
        return failed(fmt::format("want true or false, got {}", describe()));
      case FieldDescriptor::TYPE_UINT32: return uint32_value();
      case FieldDescriptor::TYPE_ENUM: return enum_value(*field.enum_type());
      default: return any_value(depth);  // not in the policy schema
    }
  }

  bool uint32_value() {
    const Position start = position();
    const std::string got = describe();
    std::string_view digits_text;
    if (peek() == '"') {
      std::string text;
      if (!string(&text)) return false;
      if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos)
        return failed(fmt::format("want a whole number 0-4294967295, got {}", got), start);
      return in_range(text, got, start);
    }
    if (peek() == '-' || (peek() >= '0' && peek() <= '9')) {
      const std::size_t begin = pos_;
      if (!number()) return false;
      digits_text = in_.substr(begin, pos_ - begin);
      if (digits_text.find_first_not_of("0123456789") != std::string_view::npos)
        return failed(fmt::format("want a whole number 0-4294967295, got {}", got), start);
      return in_range(digits_text, got, start);
    }
    return failed(fmt::format("want a whole number 0-4294967295, got {}", got));
  }

  bool in_range(std::string_view digits_text, const std::string& got, Position start) {
    std::uint64_t value = 0;
    for (char c : digits_text) {
      value = value * 10 + static_cast<std::uint64_t>(c - '0');
      if (value > 0xffffffffULL) return failed(fmt::format("want a whole number 0-4294967295, got {}", got), start);
    }
    return true;
  }

  bool enum_value(const google::protobuf::EnumDescriptor& type) {
    const Position start = position();
    const std::string got = describe();
    if (peek() == '"') {
      std::string name;
      if (!string(&name)) return false;
      if (!type.FindValueByName(name))
        return failed(fmt::format("want one of {}, got {}", enum_names(type), got), start);
      return true;
    }
    if (peek() == '-' || (peek() >= '0' && peek() <= '9')) {
      // A number: proto3 enums are open; the decoder says whether it means anything.
      const std::size_t begin = pos_;
      if (!number()) return false;
      std::string_view text = in_.substr(begin, pos_ - begin);
      if (text.starts_with("-")) text.remove_prefix(1);
      if (text.empty() || text.size() > 10 || text.find_first_not_of("0123456789") != std::string_view::npos)
        return failed(fmt::format("want one of {}, got {}", enum_names(type), got), start);
      return true;
    }
    return failed(fmt::format("want one of {}, got {}", enum_names(type), got));
  }

  // ---- plain JSON ----------------------------------------------------------------

  bool any_value(int depth) {
    if (depth > kMaxJsonDepth) return failed(fmt::format("nesting deeper than {} levels", kMaxJsonDepth));
    skip_space();
    if (at_end()) return failed("unexpected end of input; expected a value");
    const char c = peek();
    if (c == '"') return string(nullptr);
    if (c == 't') return literal("true");
    if (c == 'f') return literal("false");
    if (c == 'n') return literal("null");
    if (c == '-' || (c >= '0' && c <= '9')) return number();
    if (c != '{' && c != '[') return failed(fmt::format("expected a value, found {}", describe()));
    const char closing = c == '{' ? '}' : ']';
    ++pos_;
    skip_space();
    if (!at_end() && peek() == closing) {
      ++pos_;
      return true;
    }
    for (;;) {
      if (closing == '}') {
        skip_space();
        if (at_end() || peek() != '"') return failed(fmt::format("expected a key, found {}", describe()));
        if (!string(nullptr)) return false;
        skip_space();
        if (at_end() || peek() != ':') return failed(fmt::format("expected ':', found {}", describe()));
        ++pos_;
      }
      if (!any_value(depth + 1)) return false;
      if (!expect_more(closing)) return false;
      if (peek() == closing) {
        ++pos_;
        return true;
      }
      if (peek() != ',') return failed(fmt::format("expected ',' or '{}', found {}", closing, describe()));
      ++pos_;
    }
  }

  static bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

  // The characters of the string (escapes kept as written) go to `out`.
  bool string(std::string* out) {
    ++pos_;  // '"'
    for (;;) {
      if (at_end()) return failed("unterminated string");
      const auto c = static_cast<unsigned char>(peek());
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (c < 0x20) return failed(fmt::format("control character 0x{:02x} in a string; escape it", c));
      if (c == '\\') {
        if (pos_ + 1 >= in_.size()) return failed("unterminated string");
        const char e = in_[pos_ + 1];
        std::size_t length = 2;
        if (e == 'u') {
          length = 6;
          for (std::size_t k = 2; k < 6; ++k) {
            if (pos_ + k >= in_.size() || !is_hex(in_[pos_ + k])) return failed("invalid \\u escape; want four hex digits");
          }
        } else if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) {
          return failed(fmt::format("invalid escape '\\{}'", e));
        }
        if (out) out->append(in_.substr(pos_, length));
        pos_ += length;
        continue;
      }
      const std::size_t length = utf8_sequence_length(in_, pos_);
      if (length == 0) return failed("invalid UTF-8 in a string");
      if (out) out->append(in_.substr(pos_, length));
      pos_ += length;
    }
  }

  bool digits() {
    const std::size_t start = pos_;
    while (!at_end() && peek() >= '0' && peek() <= '9') ++pos_;
    return pos_ > start;
  }

  bool number() {
    const Position start = position();
    if (peek() == '-') ++pos_;
    if (at_end()) return failed("invalid number", start);
    if (peek() == '0') {
      ++pos_;
      if (!at_end() && peek() >= '0' && peek() <= '9') return failed("invalid number: leading zero", start);
    } else if (!digits()) {
      return failed("invalid number", start);
    }
    if (!at_end() && peek() == '.') {
      ++pos_;
      if (!digits()) return failed("invalid number: digits must follow '.'", start);
    }
    if (!at_end() && (peek() == 'e' || peek() == 'E')) {
      ++pos_;
      if (!at_end() && (peek() == '+' || peek() == '-')) ++pos_;
      if (!digits()) return failed("invalid number: digits must follow the exponent", start);
    }
    return true;
  }

  bool literal(std::string_view word) {
    if (in_.substr(pos_, word.size()) != word) return failed(fmt::format("expected a value, found {}", describe()));
    pos_ += word.size();
    return true;
  }

  std::string_view in_;
  std::size_t pos_ = 0;
  int line_ = 1;
  std::size_t line_start_ = 0;
  std::vector<std::string> path_;  // "services", "[0]", "entries", ...
  Status error_;
};

}  // namespace

Status check_json(std::string_view json, const google::protobuf::Descriptor& root) { return JsonCheck(json).run(root); }

bool is_valid_utf8(std::string_view text) {
  for (std::size_t pos = 0; pos < text.size();) {
    const std::size_t length = utf8_sequence_length(text, pos);
    if (length == 0) return false;
    pos += length;
  }
  return true;
}

}  // namespace fw::policy_internal
