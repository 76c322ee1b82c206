// Checks the helpers that do not need LibTorch: SHA-256 test vectors, JSON escapes, UTF-8 decoding.
#include <cstdio>
#include <string>
#include <vector>

#include "fold.h"
#include "json.h"
#include "sha256.h"

static int failures = 0;

static void check(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "FAIL: %s\n", what.c_str());
    ++failures;
  }
}

static std::string sha(const std::string& text) {
  embed::Sha256 h;
  h.update(text.data(), text.size());
  return h.hex_digest();
}

int main() {
  check(sha("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "sha256 empty");
  check(sha("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "sha256 abc");
  check(sha("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
        "sha256 two blocks");
  check(sha(std::string(1000000, 'a')) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
        "sha256 million a");
  embed::Sha256 pieces;  // the same text fed in uneven pieces
  std::string text(1000, 'x');
  for (size_t i = 0, step = 1; i < text.size(); i += step, step = step % 97 + 1) {
    pieces.update(text.data() + i, std::min(step, text.size() - i));
  }
  check(pieces.hex_digest() == sha(text), "sha256 incremental");

  embed::Json j = embed::parse_json(R"({"a": ["x\u00e9\ud83d\ude00", 1.5e2, true, null], "b": {}})");
  check(j.at("a").array[0].string == "x\xc3\xa9\xf0\x9f\x98\x80", "json unicode escapes");
  check(j.at("a").array[1].number == 150.0, "json number");
  bool threw = false;
  try { embed::parse_json("{\"a\": }"); } catch (const embed::JsonError&) { threw = true; }
  check(threw, "json rejects bad input");

  using V = std::vector<uint32_t>;
  check(embed::decode_utf8("M\xc3\xbcller") == V{'M', 0xFC, 'l', 'l', 'e', 'r'}, "utf8 two-byte");
  check(embed::decode_utf8("\xf0\x9f\x98\x80") == V{0x1F600}, "utf8 four-byte");
  check(embed::decode_utf8("a\xffz\xc3") == V{'a', 'z'}, "utf8 invalid bytes dropped");
  check(embed::decode_utf8("\xe2\x82" "A") == V{'A'}, "utf8 truncated sequence dropped");
  check(embed::decode_utf8("\xc0\xaf\xed\xa0\x80") == V{}, "utf8 overlong and surrogate dropped");

  if (failures == 0) std::puts("support self-test passed");
  return failures == 0 ? 0 : 1;
}
