// Precompiled header: the heavy, stable headers every LibTorch translation unit pulls in.
#pragma once
#include <torch/torch.h>
#include <fmt/format.h>
#include <string>
#include <vector>
