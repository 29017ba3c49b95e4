#include "trainrt/obs/progress.h"

#include <cmath>

#include <fmt/format.h>

namespace trainrt::obs {

std::string format_duration(double seconds) {
  const auto s = static_cast<int64_t>(std::llround(std::max(0.0, seconds)));
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
}

Progress::Progress(std::FILE* out, bool interactive)
    : out_(out), interactive_(interactive), start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

std::string format_named_values(const NamedValues& values) {
  std::string text;
  for (const auto& [name, value] : values) {
    if (!text.empty()) text += ' ';
    text += std::abs(value) >= 1000 ? fmt::format("{} {:.0f}", name, value)
                                    : fmt::format("{} {:.4g}", name, value);
  }
  return text;
}

double Progress::eta_seconds(const ProgressState& state) const {
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  // The pace of this process's own steps (a resumed run did the earlier ones elsewhere).
  const int64_t done_here = state.step - state.start_step;
  return done_here > 0 ? elapsed * static_cast<double>(state.total_steps - state.step) /
                             static_cast<double>(done_here)
                       : 0.0;
}

void Progress::step(const ProgressState& state) {
  if (!out_ || !interactive_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(100) && state.step != state.total_steps) return;
  last_draw_ = now;
  const int width = 24;
  const int filled = state.total_steps > 0
                         ? static_cast<int>(width * state.step / state.total_steps)
                         : 0;
  fmt::print(out_, "\r\033[K[{}{}] epoch {}/{} step {}/{} loss {:.4f} lr {:.3g} samples_per_sec {:.0f} eta {}",
             std::string(filled, '#'), std::string(width - filled, '.'), state.epoch + 1,
             state.epochs, state.step, state.total_steps, state.loss, state.lr,
             state.samples_per_sec, format_duration(eta_seconds(state)));
  std::fflush(out_);
  bar_drawn_ = true;
}

void Progress::log(const ProgressState& state, const NamedValues& metrics) {
  if (!out_ || interactive_) return;
  fmt::print(out_, "epoch {}/{} step {}/{} eta {} | {}\n", state.epoch + 1, state.epochs, state.step,
             state.total_steps, format_duration(eta_seconds(state)), format_named_values(metrics));
  std::fflush(out_);
}

void Progress::message(const std::string& text) {
  if (!out_) return;
  if (bar_drawn_) fmt::print(out_, "\r\033[K");
  fmt::print(out_, "{}\n", text);
  std::fflush(out_);
  bar_drawn_ = false;
}

void Progress::finish() {
  if (!out_) return;
  if (bar_drawn_) fmt::print(out_, "\n");
  bar_drawn_ = false;
  std::fflush(out_);
}

}  // namespace trainrt::obs
