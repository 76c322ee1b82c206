#include "artifacts.h"

#include <openssl/evp.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include <nlohmann/json.hpp>

namespace fs = std::filesystem;

namespace embed {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ArtifactError("cannot read " + path);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

nlohmann::json read_json(const std::string& path) {
  try {
    return nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::parse_error& e) {
    throw ArtifactError("'" + path + "' is not valid JSON: " + e.what());
  }
}

std::string sha256_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ArtifactError("cannot read " + path);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!context || EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr) != 1) {
    throw ArtifactError("OpenSSL could not start a SHA-256 digest");
  }
  std::array<char, 1 << 16> buffer;
  while (in.read(buffer.data(), buffer.size()) || in.gcount() > 0) {
    EVP_DigestUpdate(context.get(), buffer.data(), static_cast<size_t>(in.gcount()));
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_DigestFinal_ex(context.get(), digest, &size);
  std::string hex;
  char pair[3];
  for (unsigned int i = 0; i < size; ++i) {
    std::snprintf(pair, sizeof pair, "%02x", digest[i]);
    hex += pair;
  }
  return hex;
}

std::string checked_artifact(const std::string& model_dir, const std::string& name, bool verify_hash) {
  std::error_code error;
  if (!fs::is_directory(model_dir, error)) {
    throw ArtifactError("model directory '" + model_dir + "' does not exist (export the model first: rnnexport export)");
  }
  fs::path path = fs::path(model_dir) / name;
  if (!fs::is_regular_file(path, error)) {
    throw ArtifactError("'" + path.string() + "' is missing; the model directory is incomplete (re-export it)");
  }
  if (!verify_hash) return path.string();

  fs::path manifest_path = fs::path(model_dir) / "manifest.json";
  if (!fs::is_regular_file(manifest_path, error)) {
    throw ArtifactError("'" + manifest_path.string() +
                        "' is missing, so the SHA-256 hash of " + name + " cannot be checked "
                        "(re-export, or pass --no-verify-hash to skip the check)");
  }
  std::string expected;
  try {
    expected = read_json(manifest_path.string()).at("artifacts").at(name).at("sha256").get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    throw ArtifactError("'" + manifest_path.string() + "' gives no SHA-256 hash for " + name + " (" + e.what() +
                        "); re-export, or pass --no-verify-hash to skip the check");
  }
  std::string actual = sha256_file(path.string());
  if (actual != expected) {
    throw ArtifactError("SHA-256 hash mismatch for '" + path.string() + "': the file hashes to " + actual +
                        " but manifest.json expects " + expected +
                        "; the file is corrupt or does not belong to this export (re-export it, or pass "
                        "--no-verify-hash to skip the check)");
  }
  return path.string();
}

}  // namespace embed
