#include "trainrt/ckpt/state_dict.h"

#include <cstdint>
#include <cstring>
#include <functional>

#include <caffe2/serialize/inline_container.h>
#include <fmt/format.h>
#include <torch/csrc/jit/serialization/pickler.h>
#include <torch/csrc/jit/serialization/unpickler.h>

#include "trainrt/core/error.h"

namespace trainrt::ckpt {
namespace {

std::map<std::string, torch::Tensor> named_state(const torch::nn::Module& module) {
  std::map<std::string, torch::Tensor> state;
  for (const auto& item : module.named_parameters()) state[item.key()] = item.value();
  for (const auto& item : module.named_buffers()) state[item.key()] = item.value();
  return state;
}

}  // namespace

TensorDict module_state(const torch::nn::Module& module, bool copy_parameters) {
  // A copy even for CPU tensors: the snapshot must not follow later in-place updates.
  auto copy = [](const torch::Tensor& tensor) {
    return tensor.detach().to(torch::kCPU, /*non_blocking=*/false, /*copy=*/true);
  };
  std::map<std::string, torch::Tensor> sorted;
  for (const auto& item : module.named_parameters()) {
    sorted[item.key()] = copy_parameters ? copy(item.value()) : item.value().detach();
  }
  for (const auto& item : module.named_buffers()) sorted[item.key()] = copy(item.value());
  return TensorDict(sorted.begin(), sorted.end());
}

void write_tensor_dict(const TensorDict& tensors, const std::function<void(const char*, size_t)>& sink) {
  // What torch::pickle_save does, but streamed: the pickle refers to each tensor's storage by
  // key, and the zip archive holds data.pkl and one record per storage (data/<key>).
  c10::Dict<std::string, torch::Tensor> dict;
  for (const auto& [name, tensor] : tensors) dict.insert(name, tensor);
  std::vector<char> pickle;
  torch::jit::Pickler pickler([&](const char* data, size_t size) { pickle.insert(pickle.end(), data, data + size); },
                              nullptr, nullptr, nullptr);
  pickler.protocol();
  pickler.pushIValue(dict);
  pickler.stop();
  // The writer calls back from C code (miniz) and, told of a short write, fails in ways that
  // end in its destructor throwing. So a sink error is kept, the rest of the archive is
  // swallowed, and the error is rethrown once the writer is done.
  std::exception_ptr failure;
  {
    caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, size_t size) -> size_t {
      if (failure) return size;
      try {
        sink(static_cast<const char*>(data), size);
      } catch (...) {
        failure = std::current_exception();
      }
      return size;
    });
    for (size_t i = 0; i < pickler.tensorData().size() && !failure; ++i) {
      const auto storage = torch::jit::getWriteableTensorData(pickler.tensorData()[i]);
      writer.writeRecord("data/" + std::to_string(i), storage.data(), storage.sizeInBytes());
    }
    writer.writeRecord("data.pkl", pickle.data(), pickle.size());
    writer.writeEndOfFile();
  }
  if (failure) std::rethrow_exception(failure);
}

std::string tensor_dict_bytes(const TensorDict& tensors) {
  std::string bytes;
  write_tensor_dict(tensors, [&](const char* data, size_t size) { bytes.append(data, size); });
  return bytes;
}

namespace {

// The zip reader's view of bytes already in memory (no copy of them).
class StringReader : public caffe2::serialize::ReadAdapterInterface {
 public:
  explicit StringReader(const std::string& bytes) : bytes_(bytes) {}
  size_t size() const override { return bytes_.size(); }
  size_t read(uint64_t pos, void* buf, size_t n, const char* /*what*/) const override {
    if (pos >= bytes_.size()) return 0;
    n = std::min<size_t>(n, bytes_.size() - pos);
    std::memcpy(buf, bytes_.data() + pos, n);
    return n;
  }

 private:
  const std::string& bytes_;
};

// The Dict[str, Tensor] of an unpickled value.
std::map<std::string, torch::Tensor> tensor_dict_of(const c10::IValue& value, const std::string& source) {
  if (!value.isGenericDict()) throw DataError(fmt::format("{}: not a state dict (a {})", source, value.tagKind()));
  std::map<std::string, torch::Tensor> loaded;
  for (const auto& entry : value.toGenericDict()) {
    if (!entry.key().isString() || !entry.value().isTensor()) {
      throw DataError(fmt::format("{}: a state dict maps names to tensors", source));
    }
    loaded[entry.key().toStringRef()] = entry.value().toTensor();
  }
  return loaded;
}

// Whether `tensor`'s view (offset, sizes and strides: the pickle's word) lies within its storage
// (whose size is the pickle's word too: the callers check it against the bytes). Checked in 64
// bits without overflow.
bool view_inside_storage(const torch::Tensor& tensor) {
  if (tensor.numel() == 0) return true;  // nothing of its storage is read
  int64_t last = tensor.storage_offset();
  bool bad = last < 0;
  for (int64_t d = 0; d < tensor.dim() && !bad; ++d) {
    int64_t reach = 0;
    bad = tensor.stride(d) < 0 || __builtin_mul_overflow(tensor.size(d) - 1, tensor.stride(d), &reach) ||
          __builtin_add_overflow(last, reach, &last);
  }
  int64_t end_bytes = 0;
  return !bad && !__builtin_mul_overflow(last + 1, static_cast<int64_t>(tensor.element_size()), &end_bytes) &&
         static_cast<uint64_t>(end_bytes) <= tensor.storage().nbytes();
}

using RecordLoader = std::function<at::DataPtr(caffe2::serialize::PyTorchStreamReader&, const std::string&)>;

// The value pickled in the zip archive `bytes` (its data.pkl), each storage's bytes from
// `load_record(reader, key)` (the record data/<key>); on the CPU whatever device the pickle names.
// What readArchiveAndTensors does, with the records in the caller's hands. Throws DataError naming
// `source` when LibTorch refuses the bytes: with c10::Error, or a standard exception its parser lets
// through (a memo index out of range).
c10::IValue unpickle(const std::string& bytes, const std::string& source, const RecordLoader& load_record) {
  try {
    caffe2::serialize::PyTorchStreamReader reader(std::make_unique<StringReader>(bytes));
    auto [pickle, pickle_size] = reader.getRecord("data.pkl");
    size_t consumed = 0;
    auto read_pickle = [&, pickle_size = pickle_size, data = static_cast<const char*>(pickle.get())](char* out,
                                                                                                   size_t n) {
      n = std::min(n, pickle_size - consumed);
      std::memcpy(out, data + consumed, n);
      consumed += n;
      return n;
    };
    auto read_record = [&](const std::string& key) { return load_record(reader, key); };
    torch::jit::Unpickler unpickler(read_pickle, nullptr, nullptr, read_record, at::Device(at::kCPU));
    unpickler.set_version(reader.version());
    return unpickler.parse_ivalue();
  } catch (const c10::Error& e) {
    throw DataError(fmt::format("{}: not a state dict: {}", source, e.what_without_backtrace()));
  } catch (const std::exception& e) {
    throw DataError(fmt::format("{}: not a state dict: {}", source, e.what()));
  }
}

}  // namespace

std::map<std::string, torch::Tensor> read_tensor_dict(const std::string& bytes, const std::string& source) {
  // The pickle says how large each storage is and where each tensor lies in it; the record holds
  // what there is. A damaged pickle (a storage key of another record) may claim more.
  std::map<const void*, size_t> record_bytes;
  const c10::IValue value = unpickle(bytes, source, [&](caffe2::serialize::PyTorchStreamReader& reader,
                                                        const std::string& key) {
    auto [data, size] = reader.getRecord("data/" + key);  // a copy, its CRC-32 checked
    record_bytes[data.get()] = size;
    return std::move(data);
  });
  auto loaded = tensor_dict_of(value, source);
  for (const auto& [name, tensor] : loaded) {
    if (tensor.numel() == 0) continue;  // its record is never read
    const auto record = record_bytes.find(tensor.storage().data());
    if (record == record_bytes.end() || tensor.storage().nbytes() > record->second || !view_inside_storage(tensor)) {
      throw DataError(fmt::format("{}: '{}' reaches past its storage (a damaged file)", source, name));
    }
  }
  return loaded;
}

std::map<std::string, torch::Tensor> read_verified_tensor_dict(const std::string& bytes, const std::string& source) {
  // Each storage is the record's bytes where they lie (its offset in the archive), not a copy.
  const c10::IValue value = unpickle(bytes, source, [&](caffe2::serialize::PyTorchStreamReader& reader,
                                                        const std::string& key) {
    const size_t offset = reader.getRecordOffset("data/" + key);
    return at::DataPtr(const_cast<char*>(bytes.data()) + offset, nullptr, [](void*) {}, at::kCPU);
  });
  auto loaded = tensor_dict_of(value, source);
  // The pickle says how large each storage is, and where each tensor lies in it: none may reach
  // past the bytes (checked before any element is read).
  for (const auto& [name, tensor] : loaded) {
    if (tensor.numel() == 0) continue;  // its record is never read
    const auto start = reinterpret_cast<uintptr_t>(tensor.storage().data());
    const auto first = reinterpret_cast<uintptr_t>(bytes.data());
    const uint64_t storage_bytes = tensor.storage().nbytes();
    const bool inside = start >= first && start - first <= bytes.size() &&
                        storage_bytes <= bytes.size() - (start - first) && view_inside_storage(tensor);
    if (!inside) throw DataError(fmt::format("{}: '{}' reaches past the end of the file", source, name));
  }
  return loaded;
}

std::string model_state_bytes(const torch::nn::Module& module) {
  return tensor_dict_bytes(module_state(module));
}

void load_model_state(torch::nn::Module& module, const std::string& bytes, const std::string& source,
                      bool verified) {
  auto loaded = verified ? read_verified_tensor_dict(bytes, source) : read_tensor_dict(bytes, source);
  auto state = named_state(module);
  for (const auto& [name, tensor] : state) {
    auto found = loaded.find(name);
    if (found == loaded.end()) throw DataError(fmt::format("{}: '{}' is missing", source, name));
    if (found->second.sizes() != tensor.sizes()) {
      throw DataError(fmt::format("{}: '{}' has shape {}, the model's is {}", source, name,
                                  c10::str(found->second.sizes()), c10::str(tensor.sizes())));
    }
  }
  for (const auto& [name, tensor] : loaded) {
    if (!state.count(name)) throw DataError(fmt::format("{}: '{}' is not in the model", source, name));
  }
  torch::NoGradGuard no_grad;
  for (auto& [name, tensor] : state) tensor.copy_(loaded[name]);
}

}  // namespace trainrt::ckpt
