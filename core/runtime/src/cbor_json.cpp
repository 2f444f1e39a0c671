#include "cbor_json.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>

#include "doppel/sdk/json.hpp"

namespace doppel::runtime {
namespace {

constexpr int kMaxDepth = 64;

// True when [s, s + n) is well-formed UTF-8 (no overlongs, surrogates or values > U+10FFFF).
bool valid_utf8(const unsigned char* s, std::size_t n) {
  std::size_t i = 0;
  while (i < n) {
    unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len;
    std::uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (std::size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

void append_base64(std::string& out, const unsigned char* s, std::size_t n) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    std::uint32_t v = (s[i] << 16) | (s[i + 1] << 8) | s[i + 2];
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (n - i == 1) {
    std::uint32_t v = s[i] << 16;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (n - i == 2) {
    std::uint32_t v = (s[i] << 16) | (s[i + 1] << 8);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
}

double half_to_double(std::uint16_t h) {
  int exp = (h >> 10) & 0x1F;
  int mant = h & 0x3FF;
  double v;
  if (exp == 0)
    v = std::ldexp(mant, -24);
  else if (exp != 31)
    v = std::ldexp(mant + 1024, exp - 25);
  else
    v = mant == 0 ? INFINITY : NAN;
  return (h & 0x8000) ? -v : v;
}

class Decoder {
 public:
  Decoder(std::string_view in, std::string& out, std::string& error)
      : p_(reinterpret_cast<const unsigned char*>(in.data())),
        n_(in.size()),
        out_(out),
        error_(error) {}

  bool run() {
    if (n_ == 0) return fail("the payload is empty");
    if (!item(0)) return false;
    if (pos_ != n_) return fail("unexpected bytes after the first data item");
    return true;
  }

 private:
  bool fail(const char* what) {
    error_ = "CBOR: " + std::string(what) + " at byte " + std::to_string(pos_);
    return false;
  }

  // Reads an item's head: major type, additional information (31: indefinite length) and the
  // argument.
  bool head(int& major, std::uint64_t& arg, int& ai) {
    if (pos_ >= n_) return fail("truncated input");
    unsigned char b = p_[pos_++];
    major = b >> 5;
    ai = b & 31;
    if (ai < 24) {
      arg = static_cast<std::uint64_t>(ai);
      return true;
    }
    if (ai == 31) {
      arg = 0;
      return true;
    }
    if (ai > 27) return fail("reserved additional information");
    std::size_t len = std::size_t{1} << (ai - 24);
    if (n_ - pos_ < len) return fail("truncated input");
    arg = 0;
    for (std::size_t k = 0; k < len; ++k)
      arg = (arg << 8) | p_[pos_ + k];
    pos_ += len;
    return true;
  }

  bool at_break() {
    if (pos_ < n_ && p_[pos_] == 0xFF) {
      ++pos_;
      return true;
    }
    return false;
  }

  // A byte or text string (major 2 or 3), definite or made of definite chunks.
  bool string(int major, std::uint64_t arg, int ai, bool as_key) {
    std::string_view whole;
    std::string joined;
    if (ai != 31) {
      if (arg > n_ - pos_) return fail("string longer than the payload");
      whole = {reinterpret_cast<const char*>(p_ + pos_), static_cast<std::size_t>(arg)};
      pos_ += arg;
    } else {
      while (!at_break()) {
        int m = 0, chunk_ai = 0;
        std::uint64_t len = 0;
        if (!head(m, len, chunk_ai)) return false;
        if (m != major || chunk_ai == 31)
          return fail("an indefinite string chunk is not a definite string of the same type");
        if (len > n_ - pos_) return fail("string longer than the payload");
        joined.append(reinterpret_cast<const char*>(p_ + pos_), len);
        pos_ += len;
      }
      whole = joined;
    }
    if (major == 3) {
      if (!valid_utf8(reinterpret_cast<const unsigned char*>(whole.data()), whole.size()))
        return fail("text string is not valid UTF-8");
      sdk::append_json_string(out_, whole);
      return true;
    }
    if (as_key) return fail("a map key is a byte string; use text keys");
    out_ += '"';
    append_base64(out_, reinterpret_cast<const unsigned char*>(whole.data()), whole.size());
    out_ += '"';
    return true;
  }

  bool number(double v) {
    if (!std::isfinite(v)) return fail("NaN or infinity has no JSON form");
    out_ += sdk::json_number(v);
    return true;
  }

  // A map key: text, or an integer written as text.
  bool key() {
    int major = 0, ai = 0;
    std::uint64_t arg = 0;
    std::size_t start = pos_;
    if (!head(major, arg, ai)) return false;
    if (major == 2 || major == 3) return string(major, arg, ai, true);
    if ((major == 0 || major == 1) && ai != 31) {
      out_ += '"';
      if (major == 1) out_ += '-';
      append_unsigned(arg, major == 1);
      out_ += '"';
      return true;
    }
    pos_ = start;
    return fail("a map key is not text or an integer");
  }

  // Writes arg (major 0) or -1 - arg's magnitude (major 1, `negative`): arg + 1, which may
  // need 65 bits.
  void append_unsigned(std::uint64_t arg, bool negative) {
    char buf[24];
    char* end = buf + sizeof buf;
    char* q = end;
    if (!negative) {
      do {
        *--q = static_cast<char>('0' + arg % 10);
        arg /= 10;
      } while (arg);
    } else {
      // arg + 1 as decimal without overflow: 2^64 when arg is the maximum.
      if (arg == ~std::uint64_t{0}) {
        out_ += "18446744073709551616";
        return;
      }
      ++arg;
      do {
        *--q = static_cast<char>('0' + arg % 10);
        arg /= 10;
      } while (arg);
    }
    out_.append(q, end);
  }

  bool item(int depth) {
    if (depth > kMaxDepth) return fail("nesting deeper than 64 levels");
    int major = 0, ai = 0;
    std::uint64_t arg = 0;
    if (!head(major, arg, ai)) return false;
    switch (major) {
      case 0:
      case 1:
        if (ai == 31) return fail("an integer cannot have indefinite length");
        if (major == 1) out_ += '-';
        append_unsigned(arg, major == 1);
        return true;
      case 2:
      case 3:
        return string(major, arg, ai, false);
      case 4: {
        // Each element takes a byte at least: refuse impossible counts before looping.
        if (ai != 31 && arg > n_ - pos_) return fail("array longer than the payload");
        out_ += '[';
        for (std::uint64_t i = 0; ai == 31 ? !at_break() : i < arg; ++i) {
          if (i) out_ += ',';
          if (!item(depth + 1)) return false;
        }
        out_ += ']';
        return true;
      }
      case 5: {
        if (ai != 31 && arg > (n_ - pos_) / 2) return fail("map longer than the payload");
        out_ += '{';
        for (std::uint64_t i = 0; ai == 31 ? !at_break() : i < arg; ++i) {
          if (i) out_ += ',';
          if (!key()) return false;
          out_ += ':';
          if (!item(depth + 1)) return false;
        }
        out_ += '}';
        return true;
      }
      case 6:
        if (ai == 31) return fail("a tag cannot have indefinite length");
        return item(depth + 1);  // the tag's meaning is the model's business; keep the content
      default:                   // 7: simple values and floats
        switch (ai) {
          case 20:
            out_ += "false";
            return true;
          case 21:
            out_ += "true";
            return true;
          case 22:
          case 23:
            out_ += "null";
            return true;
          case 25:
            return number(half_to_double(static_cast<std::uint16_t>(arg)));
          case 26: {
            std::uint32_t bits = static_cast<std::uint32_t>(arg);
            float f;
            std::memcpy(&f, &bits, sizeof f);
            return number(f);
          }
          case 27: {
            double d;
            std::memcpy(&d, &arg, sizeof d);
            return number(d);
          }
          case 31:
            --pos_;
            return fail("unexpected break");
          default:
            return fail("unsupported simple value");
        }
    }
  }

  const unsigned char* p_;
  std::size_t n_;
  std::size_t pos_ = 0;
  std::string& out_;
  std::string& error_;
};

}  // namespace

bool cbor_to_json(std::string_view cbor, std::string& out, std::string& error) {
  std::size_t mark = out.size();
  Decoder d(cbor, out, error);
  if (d.run()) return true;
  out.resize(mark);
  return false;
}

}  // namespace doppel::runtime
