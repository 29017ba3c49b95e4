// defines: Choice, ChoiceField, closed_choices, choices_of, choice_values
//
// The closed choices of a config: string fields whose values the schema fixes (runtime.device,
// checkpoint.on_error, ...), each with what every value means. The one table of them (choices.cpp)
// is read by validation, by its error messages and by `trainrt train --help`; the code that acts on
// a value compares it with the same spelling. The open choices (task, model.name, data.format,
// optimizer.name, ...) live in registries instead (Note [open names] in tasks/tasks.h).
#pragma once

#include <string>
#include <vector>

namespace trainrt::config {

struct Choice {
  const char* value;
  const char* meaning;  // one line, for --help
};

struct ChoiceField {
  const char* field;  // the field path, e.g. "runtime.device"
  std::vector<Choice> choices;
};

// Every closed choice, in schema order.
const std::vector<ChoiceField>& closed_choices();

// The entry of `field`; throws trainrt::Error (kInternal) if the table has none.
const ChoiceField& choices_of(const std::string& field);

// The allowed values of `field`, in the table's order.
std::vector<std::string> choice_values(const std::string& field);

}  // namespace trainrt::config
