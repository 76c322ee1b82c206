// fold_names MODEL_DIR [--no-verify-hash]
//
// Prints each UTF-8 line of stdin folded with MODEL_DIR/fold_table.json, exactly as classify_names folds it
// before classifying (the same embed::FoldTable); names are not checked for blankness. No LibTorch: this is
// how tests compare the C++ fold with Python's rnnexport.text.fold.fold, code point by code point.
#include <cstdio>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "artifacts.h"
#include "fold.h"

int main(int argc, char** argv) {
  const std::string flag = argc == 3 ? argv[2] : "";
  if (argc < 2 || argc > 3 || (argc == 3 && flag != "--no-verify-hash")) {
    std::fputs("usage: fold_names MODEL_DIR [--no-verify-hash] < names > folded\n", stderr);
    return 2;
  }
  try {
    embed::Artifact file = embed::read_checked_artifact(argv[1], "fold_table.json", flag.empty());
    nlohmann::json table = embed::parse_json(file.bytes, file.path);
    const nlohmann::json alphabet = table.is_object() ? table.value("alphabet", nlohmann::json()) : nlohmann::json();
    embed::FoldTable fold(table, alphabet.is_string() ? alphabet.get<std::string>() : "", file.path);
    std::ios::sync_with_stdio(false);
    std::string line;
    while (std::getline(std::cin, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      std::cout << fold.fold(line) << '\n';
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fold_names: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
