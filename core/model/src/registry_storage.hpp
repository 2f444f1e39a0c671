// Owning storage behind ModelRegistry: deques keep element addresses stable.
#pragma once

#include <deque>

#include "doppel/model/registry.hpp"

namespace doppel::model {

struct ModelRegistry::Storage {
  std::deque<Interface> interfaces;
  std::deque<Content> contents;
  std::deque<Schema> schemas;
};

}  // namespace doppel::model
