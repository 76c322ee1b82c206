#include "artifacts.h"

#include <openssl/evp.h>

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

nlohmann::json parse_json(const std::string& text, const std::string& source) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw ArtifactError("'" + source + "' is not valid JSON: " + e.what());
  }
}

nlohmann::json read_json(const std::string& path) { return parse_json(read_file(path), path); }

std::string sha256_hex(const std::string& bytes) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (!context || EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(context.get(), bytes.data(), bytes.size()) != 1 ||
      EVP_DigestFinal_ex(context.get(), digest, &size) != 1) {
    throw ArtifactError("OpenSSL could not compute a SHA-256 digest");
  }
  std::string hex;
  char pair[3];
  for (unsigned int i = 0; i < size; ++i) {
    std::snprintf(pair, sizeof pair, "%02x", digest[i]);
    hex += pair;
  }
  return hex;
}

std::string sha256_file(const std::string& path) { return sha256_hex(read_file(path)); }

Artifact read_checked_artifact(const std::string& model_dir, const std::string& name, bool verify_hash) {
  std::error_code error;
  if (!fs::is_directory(model_dir, error)) {
    throw ArtifactError("model directory '" + model_dir + "' does not exist (export the model first: rnnexport export)");
  }
  fs::path path = fs::path(model_dir) / name;
  if (!fs::is_regular_file(path, error)) {
    throw ArtifactError("'" + path.string() + "' is missing; the model directory is incomplete (re-export it)");
  }
  Artifact artifact{path.string(), read_file(path.string())};
  if (!verify_hash) return artifact;

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
  std::string actual = sha256_hex(artifact.bytes);
  if (actual != expected) {
    throw ArtifactError("SHA-256 hash mismatch for '" + artifact.path + "': the file hashes to " + actual +
                        " but manifest.json expects " + expected +
                        "; the file is corrupt or does not belong to this export (re-export it, or pass "
                        "--no-verify-hash to skip the check)");
  }
  return artifact;
}

}  // namespace embed
