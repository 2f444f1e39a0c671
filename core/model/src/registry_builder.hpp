// Builds the immutable public ModelRegistry from a resolved, error-free ElementSet.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "doppel/model/registry.hpp"
#include "element.hpp"

namespace doppel::model {

std::shared_ptr<const ModelRegistry> build_registry(
    const detail::ElementSet& set, const std::vector<std::string_view>& document_texts);

}  // namespace doppel::model
