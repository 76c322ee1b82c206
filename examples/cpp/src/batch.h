// The model's inputs for a batch of folded names, checked before any model call.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <vector>

namespace embed {

struct Batch {
  int64_t steps = 0;              // T: the longest name
  int64_t size = 0;               // B: the number of names
  std::vector<int64_t> indices;   // time-major [T, B], 0 after each name's end
  std::vector<int64_t> lengths;   // [B], each in 1..T
};

// Pads names (alphabet indices each) to time-major [T, B]. Names must not be empty: a name that folds to
// nothing gets no prediction and never reaches the model. Throws std::invalid_argument otherwise.
Batch pad_time_major(const std::vector<std::vector<int64_t>>& names);

// Throws std::invalid_argument unless len(lengths) == B, 1 <= lengths[b] <= T, indices has T * B entries and
// every index is in [0, alphabet_size): the model's contract (issue 11), checked before every call.
void check_model_inputs(const Batch& batch, int64_t alphabet_size);

}  // namespace embed
