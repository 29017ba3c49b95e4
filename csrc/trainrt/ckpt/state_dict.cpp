#include "trainrt/ckpt/state_dict.h"

#include <cstdint>

#include <caffe2/serialize/inline_container.h>
#include <fmt/format.h>
#include <torch/csrc/jit/serialization/import_read.h>
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

}  // namespace

std::map<std::string, torch::Tensor> read_tensor_dict(const std::string& bytes, const std::string& source) {
  c10::IValue value;
  try {
    caffe2::serialize::PyTorchStreamReader reader(std::make_unique<StringReader>(bytes));
    value = torch::jit::readArchiveAndTensors("data", /*pickle_prefix=*/"", /*tensor_prefix=*/"",
                                              /*type_resolver=*/{}, /*obj_loader=*/{}, /*device=*/{}, reader);
  } catch (const c10::Error& e) {
    throw DataError(fmt::format("{}: not a state dict: {}", source, e.what_without_backtrace()));
  }
  return tensor_dict_of(value, source);
}

std::map<std::string, torch::Tensor> read_verified_tensor_dict(const std::string& bytes, const std::string& source) {
  c10::IValue value;
  try {
    // What readArchiveAndTensors does, except that each storage is the record's bytes where they
    // lie (its offset in the archive) rather than a copy of them.
    caffe2::serialize::PyTorchStreamReader reader(std::make_unique<StringReader>(bytes));
    auto [pickle, pickle_size] = reader.getRecord("data.pkl");
    size_t consumed = 0;
    auto read_pickle = [&, pickle_size = pickle_size, data = static_cast<const char*>(pickle.get())](char* out, size_t n) {
      n = std::min(n, pickle_size - consumed);
      std::memcpy(out, data + consumed, n);
      consumed += n;
      return n;
    };
    auto record_in_place = [&](const std::string& key) {
      const size_t offset = reader.getRecordOffset("data/" + key);
      return at::DataPtr(const_cast<char*>(bytes.data()) + offset, nullptr, [](void*) {}, at::kCPU);
    };
    // On the CPU whatever device the pickle names: nothing is moved (or read) while unpickling.
    torch::jit::Unpickler unpickler(read_pickle, nullptr, nullptr, record_in_place, at::Device(at::kCPU));
    unpickler.set_version(reader.version());
    value = unpickler.parse_ivalue();
  } catch (const c10::Error& e) {
    throw DataError(fmt::format("{}: not a state dict: {}", source, e.what_without_backtrace()));
  }
  auto loaded = tensor_dict_of(value, source);
  // The pickle says how large each storage is, and where each tensor lies in it: none may reach
  // past the bytes (checked before any element is read).
  for (const auto& [name, tensor] : loaded) {
    if (tensor.numel() == 0) continue;  // its record is never read
    const auto start = reinterpret_cast<uintptr_t>(tensor.storage().data());
    const auto first = reinterpret_cast<uintptr_t>(bytes.data());
    const uint64_t storage_bytes = tensor.storage().nbytes();
    bool inside = start >= first && start - first <= bytes.size() && storage_bytes <= bytes.size() - (start - first);
    // The view: its last element's index within the storage.
    int64_t last = tensor.storage_offset();
    for (int64_t d = 0; d < tensor.dim(); ++d) last += (tensor.size(d) - 1) * tensor.stride(d);
    inside = inside && tensor.storage_offset() >= 0 &&
             static_cast<uint64_t>(last + 1) * tensor.element_size() <= storage_bytes;
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
