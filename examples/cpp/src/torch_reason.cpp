#include <c10/util/Exception.h>

#include "model.h"

namespace embed {

std::string torch_reason(const std::exception& e) {
  const auto* c10_error = dynamic_cast<const c10::Error*>(&e);
  std::string text = c10_error ? c10_error->what_without_backtrace() : e.what();
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  if (text.find("TorchScript interpreter") != std::string::npos) return text.substr(text.rfind('\n') + 1);
  return text.substr(0, text.find('\n'));
}

}  // namespace embed
