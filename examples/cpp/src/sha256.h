// SHA-256 (FIPS 180-4), written for this example so that it needs no crypto library.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace embed {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t size);
  std::array<uint8_t, 32> digest();  // finishes the hash; call once
  std::string hex_digest();          // lowercase hex of digest()

 private:
  void block(const uint8_t* p);
  uint32_t state_[8];
  uint8_t buffer_[64];
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

// Lowercase hex SHA-256 of a file's bytes; throws std::runtime_error if it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace embed
