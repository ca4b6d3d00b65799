//! Generates the ABI bindings from `include/mp_natmod_abi.h` with bindgen and, for native-module
//! targets (`target_os = "none"`), compiles the C glue (`glue/protect.c`) with cc.
use std::{env, path::PathBuf};

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let header = manifest.join("include/mp_natmod_abi.h");
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap();
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let ptr_width = env::var("CARGO_CFG_TARGET_POINTER_WIDTH").unwrap();
    println!("cargo:rerun-if-changed={}", header.display());
    println!("cargo:rerun-if-changed=glue/protect.c");

    // libclang may not know Xtensa: the header has only word-sized fields, pointers, u16 and u8,
    // so any little-endian ILP32 target gives the same layout (bindgen's layout tests check it).
    let clang_target = match (arch.as_str(), ptr_width.as_str()) {
        ("x86_64", _) => "x86_64-unknown-linux-gnu",
        (_, "32") => "riscv32-unknown-elf",
        (_, "64") => "x86_64-unknown-linux-gnu",
        (a, w) => panic!("micropython-sys: unsupported target arch {a} ({w}-bit)"),
    };
    bindgen::Builder::default()
        .header(header.to_str().unwrap())
        .clang_arg(format!("--target={clang_target}"))
        .use_core()
        .allowlist_type("mp_.*|lumen_.*")
        .allowlist_var("MP_ABI_.*|LUMEN_.*|mp_fun_table")
        .allowlist_function("lumen_mp_.*")
        .default_enum_style(bindgen::EnumVariation::Consts)
        .prepend_enum_name(false)
        .derive_default(true)
        .layout_tests(true)
        .generate()
        .expect("bindgen failed on include/mp_natmod_abi.h")
        .write_to_file(out.join("bindings.rs"))
        .expect("cannot write bindings.rs");

    // The glue only makes sense inside a native module (it calls through mp_fun_table).
    if os == "none" {
        let mut build = cc::Build::new();
        build
            .file(manifest.join("glue/protect.c"))
            .include(manifest.join("include"))
            .opt_level_str("s")
            .flag("-ffreestanding")
            .flag("-fno-common")
            .flag("-ffunction-sections")
            .flag("-fdata-sections")
            .flag("-fno-asynchronous-unwind-tables")
            .flag("-fno-stack-protector")
            .cargo_metadata(true);
        match arch.as_str() {
            "x86_64" => {
                // Same code model as the Rust side: PIC, externals through the GOT (mpy-ld builds it).
                build
                    .compiler(env::var("MPY_CC_X64").unwrap_or_else(|_| "cc".into()))
                    .target("x86_64-unknown-linux-gnu")
                    .flag("-fpic")
                    .flag("-mno-red-zone");
            }
            "xtensa" => {
                // ESP8266: no byte loads from IRAM/flash (-mforce-l32), literals placed by the assembler.
                build
                    .compiler(env::var("MPY_CC_XTENSA").unwrap_or_else(|_| "xtensa-lx106-elf-gcc".into()))
                    .target("xtensa-esp8266-none-elf")
                    .flag("-mforce-l32")
                    .flag("-mlongcalls");
            }
            other => panic!("micropython-sys: no C glue build for arch {other} yet"),
        }
        build.compile("micropython_natmod_glue");
    }
}
