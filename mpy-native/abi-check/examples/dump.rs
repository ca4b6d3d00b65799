fn main() {
    let rt = abi_check::runtime::Runtime::get();
    for (k, v) in &rt.structs { println!("{k} size={:?}", v.byte_size); for m in &v.members { println!("   {m:?}"); } }
}
