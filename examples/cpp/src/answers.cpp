#include "answers.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>

#include <nlohmann/json.hpp>

#include "artifacts.h"

namespace embed {

std::string coverage_key(const std::string& text) {
  char* end = nullptr;
  double value = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(value)) return "";
  char key[16];
  std::snprintf(key, sizeof key, "%.2f", value);
  double rounded = std::strtod(key, nullptr);
  if (std::fabs(value - rounded) > 1e-9 || rounded < 0.495 || rounded > 0.995) return "";
  return key;
}

AnswerRule load_answer_rule(const std::string& model_dir, const AnswerOptions& options, size_t n_labels) {
  AnswerRule rule;
  if (options.min_probability > 0) {
    rule.abstain = true;
    rule.log_min_probability = std::log(options.min_probability);
  }
  if (options.coverage.empty()) return rule;
  const std::string path = (std::filesystem::path(model_dir) / "manifest.json").string();
  nlohmann::json manifest = read_json(path);
  if (!manifest.contains("prediction_sets")) {
    throw ArtifactError("'" + path + "' has no prediction_sets (a model without a calibration hold-back, or exported "
                        "before them); re-export it with rnnexport export");
  }
  try {
    const nlohmann::json& sets = manifest.at("prediction_sets");
    const std::string method = options.set_method.empty() ? sets.at("default_method").get<std::string>()
                                                           : options.set_method;
    const nlohmann::json& values = sets.at("levels").at(options.coverage).at(method);
    rule.sets = true;
    for (size_t j = 0; j < n_labels; ++j) {
      const nlohmann::json& value = method == "marginal" ? values : values.at(j);
      rule.thresholds.push_back(value.is_null() ? -std::numeric_limits<double>::infinity() : value.get<double>());
    }
  } catch (const nlohmann::json::exception& e) {
    throw ArtifactError("'" + path + "' gives no prediction-set thresholds at level " + options.coverage + " (" +
                        e.what() + "); re-export it with rnnexport export");
  }
  return rule;
}

size_t top_label(const float* lp, size_t n) {
  size_t top = 0;
  for (size_t j = 1; j < n; ++j) {
    if (lp[j] > lp[top]) top = j;
  }
  return top;
}

bool AnswerRule::answered(const float* lp, size_t n) const {
  return !abstain || static_cast<double>(lp[top_label(lp, n)]) >= log_min_probability;
}

void AnswerRule::append(std::string& out, const float* lp, const std::vector<std::string>& labels) const {
  if (lp == nullptr) {
    if (sets) out += "\t";
    out += "\tno_letter";
    return;
  }
  const size_t top = top_label(lp, labels.size());
  if (sets) {
    out += '\t';
    bool first = true;
    for (size_t j = 0; j < labels.size(); ++j) {
      if (j != top && !(static_cast<double>(lp[j]) >= thresholds[j])) continue;
      if (!first) out += '|';
      out += labels[j];
      first = false;
    }
  }
  out += answered(lp, labels.size()) ? "\tok" : "\tbelow_min_probability";
}

}  // namespace embed
