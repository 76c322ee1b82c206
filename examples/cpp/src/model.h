// The model a consumer runs, whatever its format: the TorchScript archive (torchscript_model.cpp, classify_names)
// or the AOTInductor package (aoti_model.cpp, classify_names_aoti). main.cpp is compiled once and linked with each.
#pragma once

#include <ATen/core/Tensor.h>

#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "artifacts.h"

namespace embed {

extern const char* const kProgramName;  // "classify_names" or "classify_names_aoti": the prefix of every error
extern const char* const kModelFile;    // the file of the model directory it loads

struct Model {
  std::vector<std::string> labels;
  std::string alphabet;
  // log_probs float32 [B, L] from indices int64 [T, B] and lengths int64 [B] (checked by the caller).
  std::function<at::Tensor(const at::Tensor&, const at::Tensor&)> forward;
  std::shared_ptr<void> handle;  // keeps the loaded module or package alive
};

// Loads the model from the bytes that were hash-checked. Throws ArtifactError with one line.
Model load_model(const Artifact& artifact);

// One line for a LibTorch error: its first line without the C++ backtrace, or for a TorchScript interpreter error
// (a traceback of the scripted code) its last line, which names the error.
std::string torch_reason(const std::exception& e);

}  // namespace embed
