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

// At most this many padded letters (names x longest name) per model call by default: the model's input
// projections take 4 x hidden bytes per padded letter (32 MiB at hidden 128).
constexpr int64_t kMaxPaddedLetters = 65536;

// Rows of names with the given letter counts, sorted by length (then row) and cut into batches of at most
// batch_size rows and max_padded_letters padded letters (rows x longest); a longer name gets a batch of its
// own. Rows of length 0 are left out. So one long name never pads a whole batch to its length.
std::vector<std::vector<size_t>> length_batches(const std::vector<size_t>& lengths, size_t batch_size,
                                                int64_t max_padded_letters = kMaxPaddedLetters);

// Pads names (alphabet indices each) to time-major [T, B]. Names must not be empty: a name that folds to
// nothing gets no prediction and never reaches the model. Throws std::invalid_argument otherwise.
Batch pad_time_major(const std::vector<std::vector<int64_t>>& names);

// Throws std::invalid_argument unless len(lengths) == B, 1 <= lengths[b] <= T, indices has T * B entries and
// every index is in [0, alphabet_size): the model's contract (issue 11), checked before every call.
void check_model_inputs(const Batch& batch, int64_t alphabet_size);

}  // namespace embed
