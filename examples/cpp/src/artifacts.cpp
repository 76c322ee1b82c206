#include "artifacts.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "json.h"
#include "sha256.h"

namespace fs = std::filesystem;

namespace embed {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ArtifactError("cannot read " + path);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
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
    Json manifest = parse_json(read_file(manifest_path.string()));
    expected = manifest.at("artifacts").at(name).at("sha256").as_string("sha256");
  } catch (const JsonError& e) {
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
