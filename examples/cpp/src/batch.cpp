#include "batch.h"

#include <algorithm>
#include <string>

namespace embed {

std::vector<std::vector<size_t>> length_batches(const std::vector<size_t>& lengths, size_t batch_size,
                                                int64_t max_padded_letters) {
  std::vector<size_t> rows;
  for (size_t i = 0; i < lengths.size(); ++i) {
    if (lengths[i] > 0) rows.push_back(i);
  }
  std::stable_sort(rows.begin(), rows.end(), [&](size_t a, size_t b) { return lengths[a] < lengths[b]; });
  std::vector<std::vector<size_t>> batches;
  for (size_t row : rows) {
    // sorted ascending: the row being added is the batch's longest
    const auto padded = static_cast<int64_t>((batches.empty() ? 0 : batches.back().size() + 1) * lengths[row]);
    if (batches.empty() || batches.back().size() >= batch_size || padded > max_padded_letters) batches.emplace_back();
    batches.back().push_back(row);
  }
  return batches;
}

Batch pad_time_major(const std::vector<std::vector<int64_t>>& names) {
  Batch batch;
  batch.size = static_cast<int64_t>(names.size());
  for (const auto& name : names) {
    if (name.empty()) throw std::invalid_argument("a name that folds to nothing cannot be passed to the model");
    batch.steps = std::max(batch.steps, static_cast<int64_t>(name.size()));
    batch.lengths.push_back(static_cast<int64_t>(name.size()));
  }
  batch.indices.assign(static_cast<size_t>(batch.steps * batch.size), 0);
  for (int64_t b = 0; b < batch.size; ++b) {
    const auto& name = names[static_cast<size_t>(b)];
    for (size_t t = 0; t < name.size(); ++t) batch.indices[t * batch.size + b] = name[t];
  }
  return batch;
}

void check_model_inputs(const Batch& batch, int64_t alphabet_size) {
  const std::string shape = " (T = " + std::to_string(batch.steps) + ", B = " + std::to_string(batch.size) + ")";
  if (batch.size < 1 || batch.steps < 1) throw std::invalid_argument("empty batch" + shape);
  if (static_cast<int64_t>(batch.lengths.size()) != batch.size) {
    throw std::invalid_argument(std::to_string(batch.lengths.size()) + " lengths for a batch of B names" + shape);
  }
  if (static_cast<int64_t>(batch.indices.size()) != batch.steps * batch.size) {
    throw std::invalid_argument("indices should hold T * B values" + shape);
  }
  for (int64_t length : batch.lengths) {
    if (length < 1 || length > batch.steps) {
      throw std::invalid_argument("length " + std::to_string(length) + " is outside 1..T" + shape);
    }
  }
  for (int64_t index : batch.indices) {
    if (index < 0 || index >= alphabet_size) {
      throw std::invalid_argument("letter index " + std::to_string(index) + " is outside the alphabet" + shape);
    }
  }
}

}  // namespace embed
