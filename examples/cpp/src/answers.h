// Answers a user can act on, as rnnexport's answers/rule.py decides them: abstention below a minimum probability
// and the split conformal prediction set at a coverage level, its thresholds read from manifest.json
// ("prediction_sets": per level "0.50".."0.99", per method "per_label" or "marginal", one log-prob threshold per
// label, null: every set holds the label). Decisions are made in double, in log space:
//   answered  <=>  top log-prob >= log(min_probability)
//   label j in the set  <=>  log-prob_j >= threshold_j, or j is the top label.
#pragma once

#include <string>
#include <vector>

namespace embed {

struct AnswerOptions {
  double min_probability = 0;  // 0: no abstention
  std::string coverage;        // "0.90"; empty: no set
  std::string set_method;      // "per_label" or "marginal"; empty: the manifest's default
};

// The level key ("0.90") of a --coverage argument, or "" when it is not one of 0.50, 0.51, ..., 0.99.
std::string coverage_key(const std::string& text);

struct AnswerRule {
  bool abstain = false;
  double log_min_probability = 0;
  bool sets = false;
  std::vector<double> thresholds;  // [labels] log-probs; -inf: always in the set

  bool active() const { return abstain || sets; }

  // Whether a row of log-probs [n] is answered: its top log-prob is at least log(min_probability).
  bool answered(const float* lp, size_t n) const;

  // Appends "\tset" (labels in the model's order, joined by '|'; with a coverage) then "\tstatus" for one row of
  // log-probs (an empty set and status no_letter when lp is null: a name with no letter).
  void append(std::string& out, const float* lp, const std::vector<std::string>& labels) const;
};

// The index of the largest log-prob of a row [n] (the lowest index among equals, as every consumer ranks).
size_t top_label(const float* lp, size_t n);

// The rule of the options with the thresholds of model_dir/manifest.json. Throws ArtifactError when a coverage is
// asked and the manifest is missing, has no prediction_sets, or lacks the level or method.
AnswerRule load_answer_rule(const std::string& model_dir, const AnswerOptions& options, size_t n_labels);

}  // namespace embed
