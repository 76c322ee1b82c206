// The TorchScript backend of classify_names: char_rnn.pt with torch::jit::load, metadata.json inside the archive.
#include <torch/script.h>

#include <sstream>

#include <nlohmann/json.hpp>

#include "model.h"

namespace embed {

const char* const kProgramName = "classify_names";
const char* const kModelFile = "char_rnn.pt";

Model load_model(const Artifact& artifact) {
  const std::string& path = artifact.path;
  auto module = std::make_shared<torch::jit::script::Module>();
  torch::jit::ExtraFilesMap extra_files{{"metadata.json", ""}};
  try {
    std::istringstream bytes(artifact.bytes);
    *module = torch::jit::load(bytes, torch::kCPU, extra_files);
  } catch (const c10::Error& e) {
    throw ArtifactError("'" + path + "' is not a loadable TorchScript archive (corrupt or truncated?): " +
                        torch_reason(e));
  }
  const std::string& text = extra_files["metadata.json"];
  if (text.empty()) throw ArtifactError("'" + path + "' has no metadata.json inside; re-export it");
  Model model;
  try {
    nlohmann::json metadata = nlohmann::json::parse(text);
    model.alphabet = metadata.at("alphabet").get<std::string>();
    model.labels = metadata.at("labels").get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    throw ArtifactError("'" + path + "' has unusable metadata.json: " + e.what());
  }
  if (model.labels.empty()) throw ArtifactError("'" + path + "' lists no labels in metadata.json");
  module->eval();
  model.forward = [module](const at::Tensor& indices, const at::Tensor& lengths) {
    return module->forward({indices, lengths}).toTensor();
  };
  model.handle = module;
  return model;
}

}  // namespace embed
