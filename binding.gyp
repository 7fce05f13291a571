{
  "targets": [
    {
      "target_name": "warden_addon",
      "sources": ["native/addon.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags": ["-Wall", "-Wextra", "-O2"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-O2", "-fno-exceptions"]
    },
    {
      "target_name": "launcher",
      "type": "executable",
      "sources": ["native/launcher.c"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-O2", "-D_FORTIFY_SOURCE=2", "-fstack-protector-strong"],
      "ldflags": ["-Wl,-z,relro,-z,now"]
    }
  ]
}
