// A shared library that is not a Doppel plugin: no doppel_plugin_v1.
extern "C" __attribute__((visibility("default"))) int something_else() {
  return 42;
}
