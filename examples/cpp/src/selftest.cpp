// Checks the LibTorch-free helpers: UTF-8 decoding, fold tables with multi-letter values and astral code
// points, input validation before a model call, and the OpenSSL file hash.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "artifacts.h"
#include "batch.h"
#include "fold.h"

static int failures = 0;

static void check(bool ok, const std::string& what) {
  if (!ok) {
    std::fprintf(stderr, "FAIL: %s\n", what.c_str());
    ++failures;
  }
}

static bool throws(const std::function<void()>& action) {
  try {
    action();
  } catch (const std::exception&) {
    return true;
  }
  return false;
}

static void check_utf8() {
  using V = std::vector<uint32_t>;
  check(embed::decode_utf8("M\xc3\xbcller") == V{'M', 0xFC, 'l', 'l', 'e', 'r'}, "utf8 two-byte");
  check(embed::decode_utf8("\xf0\x9f\x98\x80") == V{0x1F600}, "utf8 four-byte");
  check(embed::decode_utf8("a\xffz\xc3") == V{'a', 'z'}, "utf8 invalid bytes dropped");
  check(embed::decode_utf8("\xe2\x82" "A") == V{'A'}, "utf8 truncated sequence dropped");
  check(embed::decode_utf8("\xc0\xaf\xed\xa0\x80") == V{}, "utf8 overlong and surrogate dropped");
}

static void check_fold() {
  const std::string alphabet = "abLis ";
  nlohmann::json doc = {{"alphabet", alphabet}, {"max_code_point", "10FFFF"},
                        {"table", {{"00DF", "ss"}, {"674E", "Li"}, {"1D41A", "a"}, {"10FFFF", "b"}, {"0020", " "}}}};
  embed::FoldTable fold(doc, alphabet);
  check(fold.fold("\xc3\x9f\xe6\x9d\x8e") == "ssLi", "fold multi-letter values");
  check(fold.fold("\xf0\x9d\x90\x9a\xf4\x8f\xbf\xbf!") == "ab", "fold astral code points, drop absent ones");
  check(fold.encode("\xc3\x9f") == std::vector<int64_t>{4, 4}, "encode ss");
  check(fold.encode("  ").empty(), "a blank name encodes to nothing");
  doc["table"]["00E9"] = "Z";
  check(throws([&] { embed::FoldTable bad(doc, alphabet); }), "a value outside the alphabet is refused");
  doc["table"].erase("00E9");
  doc["table"]["e9"] = "a";
  check(throws([&] { embed::FoldTable bad(doc, alphabet); }), "a malformed key is refused");
  check(throws([&] { embed::FoldTable bad(doc, "xyz"); }), "another alphabet is refused");
}

static void check_batch() {
  embed::Batch batch = embed::pad_time_major({{1, 2, 3}, {4}});
  check(batch.steps == 3 && batch.size == 2, "batch shape");
  check(batch.indices == std::vector<int64_t>{1, 4, 2, 0, 3, 0}, "time-major padding");
  check(!throws([&] { embed::check_model_inputs(batch, 5); }), "valid inputs pass");
  check(throws([&] { embed::pad_time_major({{1}, {}}); }), "a name that folds to nothing never reaches the model");
  embed::Batch bad = batch;
  bad.lengths = {3, 4};
  check(throws([&] { embed::check_model_inputs(bad, 5); }), "a length above T is refused");
  bad.lengths = {3, 0};
  check(throws([&] { embed::check_model_inputs(bad, 5); }), "a length of 0 is refused");
  bad.lengths = {3};
  check(throws([&] { embed::check_model_inputs(bad, 5); }), "len(lengths) != B is refused");
  check(throws([&] { embed::check_model_inputs(batch, 4); }), "an index outside the alphabet is refused");
  using Rows = std::vector<std::vector<size_t>>;
  check(embed::length_batches({5, 0, 3, 5, 1}, 2) == Rows{{4, 2}, {0, 3}}, "length batches: sorted, stable, no empty");
  check(embed::length_batches({5, 20000, 5, 5}, 256) == Rows{{0, 2, 3}, {1}}, "a long name gets a batch of its own");
}

static void check_sha256() {
  auto path = std::filesystem::temp_directory_path() / "support_selftest_abc.txt";
  std::ofstream(path) << "abc";
  const std::string abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";  // FIPS 180-2 vector
  check(embed::sha256_file(path.string()) == abc, "sha256 abc");
  check(embed::sha256_hex("abc") == abc, "sha256 of bytes");
  std::filesystem::remove(path);
}

int main() {
  check_utf8();
  check_fold();
  check_batch();
  check_sha256();
  if (failures == 0) std::puts("support self-test passed");
  return failures == 0 ? 0 : 1;
}
