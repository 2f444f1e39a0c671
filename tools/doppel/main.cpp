// doppel: the Doppel command line.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "commands.hpp"

int main(int argc, char** argv) {
  using namespace doppel::cli;
  CLI::App app{"Doppel: digital twins from DTDL models"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for every subcommand");

  auto* version = app.add_subcommand("version", "Print the Doppel version");

  auto* models = app.add_subcommand("models", "Check, show, convert and export DTDL models");
  models->require_subcommand(1);

  ModelsCheckArgs check;
  auto* check_cmd = models->add_subcommand(
      "check", "Load files and folders (JSON and YAML) as one model set and report every error");
  check_cmd->add_option("paths", check.paths, "Model files or folders")->required();
  check_cmd->add_flag("--json", check.json,
                      "Print {\"interfaces\": N, \"errors\": [...], \"warnings\": [...]}");
  check_cmd->add_flag("--summary", check.summary, "Also print counts of interfaces and contents");
  check_cmd
      ->add_option("--undefined-extensions", check.undefined_extensions,
                   "Unknown extension contexts: never (error), always (tolerated), per-default "
                   "(tolerated in DTDL v2, error in v3)")
      ->check(CLI::IsMember({"never", "always", "per-default"}));

  ModelsShowArgs show;
  auto* show_cmd = models->add_subcommand("show", "Print an interface with its flattened contents");
  show_cmd->add_option("dtmi", show.dtmi, "Interface DTMI")->required();
  show_cmd->add_option("--models", show.models, "Model files or folders")->required();
  show_cmd->add_flag("--json", show.json, "Print JSON");

  ModelsConvertArgs convert;
  auto* convert_cmd =
      models->add_subcommand("convert", "Convert model documents between JSON and YAML");
  convert_cmd->add_option("--to", convert.to, "Target format")
      ->required()
      ->check(CLI::IsMember({"yaml", "json"}));
  convert_cmd->add_option("paths", convert.paths, "Model files or folders")->required();
  convert_cmd->add_option("-o,--output", convert.output_dir,
                          "Write converted files into this folder (default: print to stdout)");

  ModelsSchemaArgs schema;
  auto* schema_cmd = models->add_subcommand(
      "schema", "Print the JSON Schema (2020-12) of an interface's payloads");
  schema_cmd->add_option("dtmi", schema.dtmi, "Interface DTMI")->required();
  schema_cmd->add_option("--models", schema.models, "Model files or folders")->required();
  schema_cmd->add_option(
      "--part", schema.part,
      "all | telemetry | properties | command:NAME:request | command:NAME:response");

  ValidateArgs validate_args;
  auto* validate_cmd = app.add_subcommand(
      "validate",
      "Check a deployment file, its models and every plugin's config; report all errors at once");
  validate_cmd->add_option("deployment", validate_args.deployment, "Deployment file (YAML)")
      ->required();
  validate_cmd->add_flag("--json", validate_args.json, "Print {\"valid\": ..., \"errors\": [...]}");

  RunArgs run_args;
  auto* run_cmd = app.add_subcommand(
      "run", "Run a deployment until SIGINT/SIGTERM (SIGHUP reloads the API tokens file)");
  run_cmd->add_option("deployment", run_args.deployment, "Deployment file (YAML)")->required();
  run_cmd->add_option("--plugin-path", run_args.plugin_path,
                      "Extra folders to search for plugin libraries");

  auto* plugins = app.add_subcommand("plugins", "Inspect plugin libraries");
  plugins->require_subcommand(1);
  PluginsInspectArgs inspect;
  auto* inspect_cmd = plugins->add_subcommand(
      "inspect", "Load a plugin library and print its descriptor and config keys");
  inspect_cmd->add_option("library", inspect.library, "Path to a plugin .so")->required();
  inspect_cmd->add_flag("--json", inspect.json, "Print JSON");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }

  if (version->parsed()) {
    std::printf("doppel %s\n", DOPPEL_VERSION);
    return kExitOk;
  }
  if (check_cmd->parsed()) return models_check(check);
  if (show_cmd->parsed()) return models_show(show);
  if (convert_cmd->parsed()) return models_convert(convert);
  if (schema_cmd->parsed()) return models_schema(schema);
  if (inspect_cmd->parsed()) return plugins_inspect(inspect);
  if (validate_cmd->parsed()) return validate(validate_args);
  if (run_cmd->parsed()) return run(run_args);
  return kExitUsage;
}
