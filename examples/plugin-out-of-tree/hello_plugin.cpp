// The smallest useful Doppel plugin: an actuator that logs a greeting when it starts.
// It includes only doppel/sdk headers and links only Doppel::sdk.
#include <string>

#include "doppel/sdk/plugin.hpp"

namespace {

class HelloPlugin final : public doppel::sdk::Plugin {
 public:
  explicit HelloPlugin(const doppel::sdk::PluginContext& context) : context_(context) {}

  doppel::sdk::Status configure(const doppel::sdk::ConfigNode& config) noexcept override {
    const auto& greeting = config.get("greeting");
    if (!greeting.missing()) greeting_ = std::string(greeting.text());
    if (greeting_.empty())
      return doppel::sdk::invalid_argument("greeting must not be empty", greeting.where());
    return {};
  }

  doppel::sdk::Status start() noexcept override {
    if (context_.log) context_.log->info(greeting_, {{"plugin", context_.instance_name}});
    return {};
  }

  void stop() noexcept override {}

 private:
  doppel::sdk::PluginContext context_;
  std::string greeting_ = "hello from an out-of-tree plugin";
};

constexpr doppel::sdk::ConfigField kConfig[] = {
    {"greeting", doppel::sdk::ConfigNode::Type::kString, false, "hello from an out-of-tree plugin",
     "what to log at start"},
};

const doppel::sdk::PluginDescriptor kDescriptor{
    DOPPEL_SDK_ABI_MAJOR,
    DOPPEL_SDK_ABI_MINOR,
    DOPPEL_SDK_TOOLCHAIN,
    doppel::sdk::PluginKind::kActuator,
    "hello",
    "1.0.0",
    "logs a greeting (an example of a plugin built against the installed SDK)",
    kConfig,
    1,
    [](const doppel::sdk::PluginContext& context) noexcept -> doppel::sdk::Plugin* {
      return doppel::sdk::create_plugin<HelloPlugin>(context, "hello");
    },
    doppel::sdk::destroy_plugin,
};

}  // namespace

DOPPEL_PLUGIN_ENTRY(kDescriptor)
