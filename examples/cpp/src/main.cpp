// classify_names MODEL_DIR [--top-k K] [--batch-size N] [--no-verify-hash] [--bench]
//                           [--min-probability P] [--coverage LEVEL] [--set-method per-label|marginal]
// classify_names_aoti MODEL_DIR [...the same options]
//
// Reads UTF-8 names from stdin (one per line), folds them with fold_table.json, runs the exported model in
// batches (classify_names: the TorchScript archive char_rnn.pt, torchscript_model.cpp; classify_names_aoti: the
// AOTInductor package char_rnn_aoti.pt2, aoti_model.cpp) and prints one TSV line per input line, in input order:
//   name<TAB>language<TAB>probability                 (default, K = 1)
//   name<TAB>lang1<TAB>p1<TAB>...<TAB>langK<TAB>pK    (--top-k K)
// A name that folds to nothing gets 2K empty fields. With --coverage, a field with the prediction set (labels
// joined by '|', in the model's order; thresholds from manifest.json) follows; with --coverage or
// --min-probability, a status field (ok, below_min_probability, no_letter) ends the line, and a name whose top
// probability is under P gets an empty first language (answers.h).
#include <ATen/Functions.h>
#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "answers.h"
#include "artifacts.h"
#include "batch.h"
#include "fold.h"
#include "model.h"

namespace {

using Clock = std::chrono::steady_clock;
using embed::kModelFile;
using embed::kProgramName;
using embed::Model;
using embed::torch_reason;

std::string usage() {
  return std::string("usage: ") + kProgramName + " MODEL_DIR [--top-k K] [--batch-size N] [--no-verify-hash] [--bench]\n" +
    "  Reads UTF-8 names from stdin, one per line, and prints name<TAB>language<TAB>probability.\n"
    "  MODEL_DIR         the exported model directory (" + kModelFile + ", fold_table.json, manifest.json)\n"
    "  --top-k K         print the K most likely languages with their probabilities (default 1)\n"
    "  --batch-size N    names per model call (default 256)\n"
    "  --no-verify-hash  skip the SHA-256 check of the model files against manifest.json\n"
    "  --bench           print load and model-call timings to stderr\n"
    "  --min-probability P  leave the language empty when the top probability is under P (0 < P <= 1)\n"
    "  --coverage LEVEL  add the prediction set holding the true label with probability >= LEVEL (0.50 to 0.99)\n"
    "  --set-method M    per-label or marginal thresholds (default: the manifest's)\n"
    "  With --min-probability or --coverage a status field ends each line: ok, below_min_probability, no_letter.\n";
}

struct Options {
  std::string model_dir;
  long top_k = 1;
  long batch_size = 256;
  bool verify_hash = true;
  bool bench = false;
  embed::AnswerOptions answers;
};

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "%s: error: %s\n%s", kProgramName, message.c_str(), usage().c_str());
  std::exit(2);
}

// Digits only (no sign, no blanks), 1 to 10^9.
long positive_number(const std::string& flag, const std::string& text) {
  bool digits = !text.empty() && text.size() <= 10 && std::all_of(text.begin(), text.end(), ::isdigit);
  long value = digits ? std::stol(text) : 0;
  if (value < 1 || value > 1000000000L) usage_error(flag + " needs a positive integer, got '" + text + "'");
  return value;
}

Options parse_args(int argc, char** argv) {
  Options options;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    bool has_inline_value = false;
    if (arg.rfind("--", 0) == 0 && arg.find('=') != std::string::npos) {
      value = arg.substr(arg.find('=') + 1);
      arg = arg.substr(0, arg.find('='));
      has_inline_value = true;
    }
    auto take_value = [&]() -> std::string {
      if (has_inline_value) return value;
      if (i + 1 >= argc) usage_error(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "-h" || arg == "--help") {
      std::fputs(usage().c_str(), stdout);
      std::exit(0);
    } else if (arg == "--top-k") {
      options.top_k = positive_number(arg, take_value());
    } else if (arg == "--batch-size") {
      options.batch_size = positive_number(arg, take_value());
    } else if (arg == "--min-probability") {
      std::string text = take_value();
      char* end = nullptr;
      double value = std::strtod(text.c_str(), &end);
      if (text.empty() || end != text.c_str() + text.size() || !(value > 0 && value <= 1)) {
        usage_error(arg + " needs a number more than 0 and at most 1, got '" + text + "'");
      }
      options.answers.min_probability = value;
    } else if (arg == "--coverage") {
      std::string text = take_value();
      options.answers.coverage = embed::coverage_key(text);
      if (options.answers.coverage.empty()) usage_error(arg + " needs a level of 0.50, 0.51, ..., 0.99, got '" + text + "'");
    } else if (arg == "--set-method") {
      std::string text = take_value();
      if (text != "per-label" && text != "marginal") usage_error(arg + " must be per-label or marginal, got '" + text + "'");
      options.answers.set_method = text == "per-label" ? "per_label" : "marginal";
    } else if (arg == "--no-verify-hash" && !has_inline_value) {
      options.verify_hash = false;
    } else if (arg == "--bench" && !has_inline_value) {
      options.bench = true;
    } else if (arg.size() > 1 && arg[0] == '-') {
      usage_error("unknown option " + arg);
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.size() != 1) usage_error("expected exactly one MODEL_DIR");
  if (!options.answers.set_method.empty() && options.answers.coverage.empty()) {
    usage_error("--set-method applies to prediction sets: give --coverage too");
  }
  options.model_dir = positional[0];
  return options;
}

struct Timings {
  double first_call_seconds = 0;  // the first call also profiles and optimises the TorchScript graph
  long first_call_names = 0;
  double model_seconds = 0;
  long calls = 0;
  long names = 0;
};

// Writes bytes to stdout and flushes. A reader that has gone (EPIPE, when SIGPIPE is ignored) ends the program
// quietly with 141, as SIGPIPE would; any other failure (a full disk, a closed stdout) throws OutputError.
class OutputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

void write_output(const std::string& text) {
  errno = 0;
  if (std::fwrite(text.data(), 1, text.size(), stdout) == text.size() && std::fflush(stdout) == 0) return;
  if (errno == EPIPE) std::_Exit(128 + SIGPIPE);
  throw OutputError(std::string("cannot write the output: ") + std::strerror(errno ? errno : EIO));
}

void close_output() {
  errno = 0;
  if (std::fclose(stdout) == 0) return;
  if (errno == EPIPE) std::_Exit(128 + SIGPIPE);
  throw OutputError(std::string("cannot write the output: ") + std::strerror(errno ? errno : EIO));
}

class Classifier {
 public:
  Classifier(Model& model, const embed::FoldTable& fold, const Options& options, const embed::AnswerRule& rule,
             Timings& timings)
      : model_(model), fold_(fold), options_(options), rule_(rule), timings_(timings) {
    k_ = static_cast<size_t>(options.top_k);  // at most the number of labels: checked in main
  }

  void add(std::string line) {
    std::vector<int64_t> letters = fold_.encode(line);
    if (!letters.empty()) ++valid_;
    names_.push_back(std::move(line));
    letters_.push_back(std::move(letters));
    // A long run of lines that fold to nothing is flushed too, so memory stays bounded.
    if (valid_ >= static_cast<size_t>(options_.batch_size) || names_.size() >= kMaxPendingLines) flush();
  }

  // Runs the pending names sorted by length (embed::length_batches, so one long name never pads the others)
  // and writes one line per pending line, in input order.
  void flush() {
    if (names_.empty()) return;
    const size_t n_labels = model_.labels.size();
    std::vector<float> log_probs(names_.size() * n_labels);  // [pending, n_labels]; rows with no letter unused
    std::vector<size_t> lengths(letters_.size());
    std::transform(letters_.begin(), letters_.end(), lengths.begin(), [](const auto& l) { return l.size(); });
    for (const auto& rows : embed::length_batches(lengths, static_cast<size_t>(options_.batch_size))) {
      std::vector<float> batch = run_model(rows, n_labels);
      for (size_t r = 0; r < rows.size(); ++r) {
        std::copy_n(batch.begin() + r * n_labels, n_labels, log_probs.begin() + rows[r] * n_labels);
      }
    }
    std::string out;
    for (size_t i = 0; i < names_.size(); ++i) {
      out += names_[i];
      const float* row = letters_[i].empty() ? nullptr : log_probs.data() + i * n_labels;
      if (row == nullptr) {
        for (size_t j = 0; j < k_; ++j) out += "\t\t";
      } else {
        append_top_k(out, row, n_labels, rule_.answered(row, n_labels));
      }
      if (rule_.active()) rule_.append(out, row, model_.labels);
      out += '\n';
    }
    write_output(out);
    names_.clear();
    letters_.clear();
    valid_ = 0;
  }

 private:
  static constexpr size_t kMaxPendingLines = 1 << 16;

  // "\tlabel\tprobability" for the k_ most likely labels of one row of log-probs, most likely first; a row not
  // answered (under --min-probability) gets an empty first label.
  void append_top_k(std::string& out, const float* lp, size_t n_labels, bool answered) const {
    char number[32];
    std::vector<size_t> order(n_labels);
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + k_, order.end(),
                      [lp](size_t a, size_t b) { return lp[a] > lp[b] || (lp[a] == lp[b] && a < b); });
    for (size_t j = 0; j < k_; ++j) {
      std::snprintf(number, sizeof number, "%.9g", std::exp(static_cast<double>(lp[order[j]])));
      out += '\t';
      if (j > 0 || answered) out += model_.labels[order[j]];
      out += '\t';
      out += number;
    }
  }

  // log_probs [rows, n_labels] of the pending names at `rows` (each with at least one letter), in that order.
  std::vector<float> run_model(const std::vector<size_t>& rows, size_t n_labels) {
    auto start = Clock::now();
    std::vector<std::vector<int64_t>> names;
    names.reserve(rows.size());
    for (size_t row : rows) names.push_back(letters_[row]);
    embed::Batch inputs = embed::pad_time_major(names);
    embed::check_model_inputs(inputs, fold_.alphabet_size());
    const int64_t batch = inputs.size;
    std::vector<float> result(rows.size() * n_labels);
    {
      c10::InferenceMode guard;
      at::Tensor index_tensor = at::from_blob(inputs.indices.data(), {inputs.steps, batch}, at::kLong);
      at::Tensor length_tensor = at::from_blob(inputs.lengths.data(), {batch}, at::kLong);
      at::Tensor output;
      try {
        output = model_.forward(index_tensor, length_tensor);
      } catch (const std::exception& e) {
        throw std::runtime_error("the model call failed on " + std::to_string(batch) + " name(s) of up to " +
                                 std::to_string(inputs.steps) + " letters: " + torch_reason(e));
      }
      output = output.to(at::kFloat).contiguous();
      if (output.dim() != 2 || output.size(0) != batch || output.size(1) != static_cast<int64_t>(n_labels)) {
        throw embed::ArtifactError("the model returned a tensor of shape " + std::to_string(output.size(0)) +
                                   "x" + std::to_string(output.dim() > 1 ? output.size(1) : 0) +
                                   ", expected batch x " + std::to_string(n_labels));
      }
      std::copy(output.data_ptr<float>(), output.data_ptr<float>() + result.size(), result.begin());
    }
    double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (timings_.calls == 0) {
      timings_.first_call_seconds = seconds;
      timings_.first_call_names = batch;
    }
    timings_.model_seconds += seconds;
    timings_.calls += 1;
    timings_.names += batch;
    return result;
  }

  Model& model_;
  const embed::FoldTable& fold_;
  const Options& options_;
  const embed::AnswerRule& rule_;
  Timings& timings_;
  size_t k_ = 1;
  size_t valid_ = 0;
  std::vector<std::string> names_;
  std::vector<std::vector<int64_t>> letters_;
};

// Calls add(line) for every line of stdin (split on \n, a trailing \r removed; a last line without \n still
// counts). Throws std::runtime_error when stdin cannot be read (a directory, an I/O error).
template <typename Add>
void read_lines(Add add) {
  char* buffer = nullptr;
  size_t capacity = 0;
  ssize_t size;
  errno = 0;
  while ((size = ::getline(&buffer, &capacity, stdin)) != -1) {
    std::string line(buffer, static_cast<size_t>(size));
    if (!line.empty() && line.back() == '\n') line.pop_back();
    if (!line.empty() && line.back() == '\r') line.pop_back();
    add(std::move(line));
  }
  const int error = errno;
  std::free(buffer);
  if (std::ferror(stdin)) throw std::runtime_error(std::string("cannot read stdin: ") + std::strerror(error));
}

void print_bench(const Timings& timings, double load_seconds, long batch_size) {
  // steady = every model call after the first one
  const long steady_names = timings.names - timings.first_call_names;
  const double steady_seconds = timings.model_seconds - timings.first_call_seconds;
  std::fprintf(stderr,
               "bench: load_ms=%.1f model_calls=%ld names=%ld model_ms=%.3f us_per_name=%.3f "
               "first_call_ms=%.3f steady_us_per_name=%.3f batch_size=%ld\n",
               load_seconds * 1e3, timings.calls, timings.names, timings.model_seconds * 1e3,
               timings.names ? timings.model_seconds * 1e6 / timings.names : 0.0, timings.first_call_seconds * 1e3,
               steady_names ? steady_seconds * 1e6 / steady_names : 0.0, batch_size);
}

void classify_stdin(const Options& options, Clock::time_point process_start) {
  embed::Artifact model_file = embed::read_checked_artifact(options.model_dir, kModelFile, options.verify_hash);
  embed::Artifact fold_file = embed::read_checked_artifact(options.model_dir, "fold_table.json", options.verify_hash);
  Model model = embed::load_model(model_file);
  const long n_labels = static_cast<long>(model.labels.size());
  if (options.top_k > n_labels) {
    // Refused naming the number to use, never capped: the rule and words of `rnnexport classify` and `predict`.
    usage_error("--top-k " + std::to_string(options.top_k) + " is more than the model's " + std::to_string(n_labels) +
                " labels; use --top-k " + std::to_string(n_labels) + " (or fewer)");
  }
  embed::FoldTable fold(embed::parse_json(fold_file.bytes, fold_file.path), model.alphabet, fold_file.path);
  embed::AnswerRule rule = embed::load_answer_rule(options.model_dir, options.answers, model.labels.size());
  double load_seconds = std::chrono::duration<double>(Clock::now() - process_start).count();

  Timings timings;
  Classifier classifier(model, fold, options, rule, timings);
  read_lines([&](std::string line) { classifier.add(std::move(line)); });
  classifier.flush();
  close_output();
  if (options.bench) print_bench(timings, load_seconds, options.batch_size);
}

}  // namespace

int main(int argc, char** argv) {
  auto process_start = Clock::now();
  Options options = parse_args(argc, argv);
  // One intra-op thread: at these sizes a second thread costs more in synchronisation than it saves.
  at::set_num_threads(1);
  try {
    at::set_num_interop_threads(1);
  } catch (const c10::Error&) {
    // already fixed by the environment; nothing runs inter-op work here anyway
  }
  try {
    classify_stdin(options, process_start);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s\n", kProgramName, torch_reason(e).c_str());  // one line, whatever threw
    return 1;
  }
  return 0;
}
