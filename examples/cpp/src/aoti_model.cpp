// The AOTInductor backend of classify_names_aoti: char_rnn_aoti.pt2 with torch::inductor::AOTIModelPackageLoader.
// The package's compile target is checked before its code is loaded: a package built for another torch or a CPU
// this one is not would fail to load or stop on an illegal instruction.
#include <c10/util/Exception.h>
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>
#include <torch/headeronly/version.h>

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>

#include <nlohmann/json.hpp>

#include "aoti_target.h"
#include "model.h"

namespace embed {

const char* const kProgramName = "classify_names_aoti";
const char* const kModelFile = "char_rnn_aoti.pt2";

namespace {

// A private copy (mode 0600) of the hash-checked bytes, removed on destruction: the loader takes a path, and the
// bytes loaded must be those that were checked, not whatever the model directory holds by then.
class PrivateCopy {
 public:
  explicit PrivateCopy(const std::string& bytes) {
    const char* tmp = std::getenv("TMPDIR");
    path_ = std::string(tmp && *tmp ? tmp : "/tmp") + "/classify_names_aoti-XXXXXX.pt2";
    const int fd = ::mkstemps(path_.data(), 4);
    if (fd < 0) throw ArtifactError("cannot create a temporary file in " + path_ + ": " + std::strerror(errno));
    size_t written = 0;
    while (written < bytes.size()) {
      const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
      if (n <= 0) {
        const int error = errno;
        ::close(fd);
        ::unlink(path_.c_str());
        throw ArtifactError("cannot write the temporary file " + path_ + ": " + std::strerror(error));
      }
      written += static_cast<size_t>(n);
    }
    ::close(fd);
  }
  ~PrivateCopy() { ::unlink(path_.c_str()); }
  PrivateCopy(const PrivateCopy&) = delete;
  PrivateCopy& operator=(const PrivateCopy&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace

Model load_model(const Artifact& artifact) {
  const std::string& path = artifact.path;
  PrivateCopy copy(artifact.bytes);  // the loader extracts the package into a directory of its own
  std::map<std::string, std::string> metadata;
  try {
    for (auto& [key, value] :
         torch::inductor::AOTIModelPackageLoader::load_metadata_from_package(copy.path(), "model")) {
      metadata.emplace(key, value);
    }
  } catch (const std::exception& e) {
    throw ArtifactError("'" + path + "' is not a loadable AOTInductor package (corrupt or truncated?): " +
                        torch_reason(e));
  }
  check_aoti_target(target_from_metadata(metadata, path), path, TORCH_VERSION, this_machine(), machine_cpu_flags());
  Model model;
  try {
    model.alphabet = metadata.at("alphabet");
    model.labels = nlohmann::json::parse(metadata.at("labels")).get<std::vector<std::string>>();
  } catch (const std::exception& e) {
    throw ArtifactError("'" + path + "' has unusable alphabet/labels metadata: " + e.what());
  }
  if (model.labels.empty()) throw ArtifactError("'" + path + "' lists no labels in its metadata");
  std::shared_ptr<torch::inductor::AOTIModelPackageLoader> loader;
  try {
    loader = std::make_shared<torch::inductor::AOTIModelPackageLoader>(copy.path(), "model");
  } catch (const std::exception& e) {
    throw ArtifactError("'" + path + "' is not a loadable AOTInductor package: " + torch_reason(e));
  }
  model.forward = [loader](const at::Tensor& indices, const at::Tensor& lengths) {
    return loader->run({indices, lengths}).at(0);
  };
  model.handle = loader;
  return model;
}

}  // namespace embed
