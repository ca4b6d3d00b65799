//! `mpy-ld`: link ELF objects / a Rust staticlib into a MicroPython native `.mpy`, or
//! inspect one.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use mpy_ld::{arch, input, link, mpy};

#[derive(Parser, Debug)]
#[command(
    name = "mpy-ld",
    version,
    about = "ELF-to-.mpy linker for MicroPython native modules"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Link objects and archives into a native-module .mpy.
    Link {
        /// Input ELF objects and ar archives (a Rust staticlib `.a`).
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Output .mpy file.
        #[arg(short, long)]
        output: PathBuf,
        /// Target arch: x64 (unix port) or xtensa (ESP8266). xtensawin (ESP32), armv6m,
        /// armv7m and rv32imc are planned, not implemented.
        #[arg(long, default_value = "x64", value_parser = parse_arch)]
        arch: &'static arch::ArchData,
        /// Functions in the chip's ROM: esp8266 (soft-float, division, memcpy...: the
        /// default for xtensa), none (the default elsewhere), or a table file of
        /// `NAME ADDRESS` lines. Calls to them cost no text (see README).
        #[arg(long)]
        rom: Option<String>,
        /// Entry symbol.
        #[arg(long, default_value = link::DEFAULT_ENTRY)]
        entry: String,
        /// Source name stored as qstr 0 (default: the output file name).
        #[arg(long)]
        name: Option<String>,
        /// Print the layout: kept/dropped sections, symbols, GOT, qstrs.
        #[arg(long)]
        map: bool,
        /// Like --map, also listing every dropped section.
        #[arg(short, long)]
        verbose: bool,
        /// xtensa: keep every literal pool whole (as GNU ld does) instead of sharing
        /// duplicate literal words.
        #[arg(long)]
        no_merge_literals: bool,
    },
    /// Write GNU as source placing, at each ROM address, a jump to an implementation:
    /// gives an emulator image (QEMU) the ROM functions that linked modules call.
    RomStubs {
        /// Arch of the ROM (only xtensa has one).
        #[arg(long, default_value = "xtensa", value_parser = parse_arch)]
        arch: &'static arch::ArchData,
        /// The ROM table: esp8266, or a file of `NAME ADDRESS` lines.
        #[arg(long, default_value = "esp8266")]
        rom: String,
        /// Only these ROM functions (comma-separated); default: every entry of the table.
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// A stub jumps to PREFIX + NAME (default: NAME itself, e.g. compiler_builtins'
        /// `__addsf3` linked into the image).
        #[arg(long, default_value = "")]
        prefix: String,
        /// Output file (default: standard output).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Print what a native-module .mpy holds.
    Inspect {
        /// The .mpy file.
        file: PathBuf,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // `mpy-ld inspect x.mpy | head` is not an error.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mpy-ld: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Link {
            inputs,
            output,
            arch,
            rom,
            entry,
            name,
            map,
            verbose,
            no_merge_literals,
        } => {
            let rom = match rom {
                Some(r) => mpy_ld::rom::by_option(&r, arch.name)?,
                None => mpy_ld::rom::default_for(arch.name),
            };
            let mut objs = Vec::new();
            for path in &inputs {
                objs.extend(input::load_path(path, arch)?);
            }
            let source_name = match name {
                Some(n) => n,
                None => output
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "module.mpy".into()),
            };
            let opts = link::LinkOptions {
                arch,
                entry,
                source_name,
                merge_literals: !no_merge_literals,
                rom,
            };
            let linked = link::link(&objs, &opts)?;
            if map || verbose {
                std::io::stdout()
                    .lock()
                    .write_all(linked.map.render(&linked.image, verbose).as_bytes())?;
            }
            write_atomically(&output, &linked.image.to_bytes())
        }
        Command::RomStubs {
            arch,
            rom,
            only,
            prefix,
            output,
        } => {
            let table = mpy_ld::rom::by_option(&rom, arch.name)?.ok_or_else(|| {
                anyhow::anyhow!("rom-stubs needs a ROM table (esp8266 or a file), not `none`")
            })?;
            table.check_arch(arch)?;
            let opts = mpy_ld::rom::StubOptions {
                only,
                prefix,
                ..Default::default()
            };
            let asm = mpy_ld::rom::stubs_asm(&table, &opts)?;
            match output {
                Some(path) => write_atomically(&path, asm.as_bytes()),
                None => Ok(std::io::stdout().lock().write_all(asm.as_bytes())?),
            }
        }
        Command::Inspect { file, json } => {
            let data =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let parsed = mpy::parse(&data)
                .with_context(|| format!("{}: not a valid native-module .mpy", file.display()))?;
            let report = parsed.report();
            let mut out = std::io::stdout().lock();
            if json {
                serde_json::to_writer_pretty(&mut out, &report)?;
                writeln!(out)?;
            } else {
                write!(out, "{report}")?;
            }
            Ok(())
        }
    }
}

/// `--arch`: an implemented arch, or an error naming the valid ones.
fn parse_arch(name: &str) -> Result<&'static arch::ArchData, String> {
    arch::for_link(name).map_err(|e| e.to_string())
}

/// Writes through a temporary file so a failed run never leaves a half-written .mpy.
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}
