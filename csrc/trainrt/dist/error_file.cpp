#include "trainrt/dist/error_file.h"

#include <chrono>
#include <fstream>

#include <nlohmann/json.hpp>

namespace trainrt::dist {

void write_error_file(const std::string& path, const std::string& message) {
  if (path.empty()) return;
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  nlohmann::json report{{"message", message},
                        {"timestamp", std::chrono::duration_cast<std::chrono::seconds>(now).count()}};
  std::ofstream out(path, std::ios::trunc);
  out << report.dump() << "\n";
}

std::string read_error_message(const std::string& path) {
  std::ifstream in(path);
  if (!in) return "";
  const auto report = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!report.is_object() || !report.contains("message")) return "";
  const auto& message = report["message"];
  if (message.is_string()) return message.get<std::string>();
  // PyTorch's own workers nest it: {"message": {"message": "...", "extraInfo": {...}}}.
  if (message.is_object() && message.contains("message") && message["message"].is_string()) {
    return message["message"].get<std::string>();
  }
  return "";
}

}  // namespace trainrt::dist
