{
  "variables": {
    "with_test_fixtures%": "<!(node -p \"+require('fs').existsSync('test/fixtures/native/attack.cc')\")"
  },
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
  ],
  "conditions": [
    ["with_test_fixtures==1", {
      "targets": [
        {
          "target_name": "warden_attack",
          "sources": ["test/fixtures/native/attack.cc"],
          "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native"],
          "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
          "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-O2", "-fno-exceptions"]
        }
      ]
    }]
  ]
}
