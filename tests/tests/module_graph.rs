//! No import circles between modules (issue 16).
//!
//! For each crate, the modules declared by the crate root (`lib.rs`/`main.rs`,
//! which only re-exports, so it is no node) form a graph: A → B when code
//! anywhere inside A names B, by `crate::B`, `super::B`, a re-export that leads
//! into B, or a `use` of any of these. Inside every module with files of its
//! own, its file submodules form the same kind of graph among siblings. A
//! strongly connected component of two or more modules is a circle, and the
//! test names each one with an example of every edge in it.
//!
//! Paths are read with `syn`, including the tokens of macro invocations
//! (where `crate::x` inside `format!` or `$crate::x` in `macro_rules!` also
//! names a module). Paths that start with an external crate are not followed.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "a test fails by panicking"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use proc_macro2::{TokenStream, TokenTree};
use syn::visit::{self, Visit};

/// A module's place in the crate: its names from the root (`[]` is the root).
type ModPath = Vec<String>;

/// What is known of one module (a file, or an inline `mod x { … }`).
#[derive(Default)]
struct Module {
    /// Whether the module has a file of its own (only those are graph nodes).
    has_file: bool,
    /// Submodules declared inside it, inline or as files.
    children: BTreeSet<String>,
    /// Names its `use` items bring in, to the absolute path they stand for.
    aliases: BTreeMap<String, ModPath>,
}

/// A place in the code that names another part of the crate.
struct Reference {
    /// The module whose code contains it.
    from: ModPath,
    /// The absolute path it names, before re-exports are followed.
    target: ModPath,
    /// The file and the path as written, for the failure message.
    evidence: String,
}

/// One crate's module tree and the references in its code.
struct Crate {
    modules: BTreeMap<ModPath, Module>,
    files: Vec<(ModPath, PathBuf, syn::File)>,
    references: Vec<Reference>,
}

/// One circle: the sibling modules under `parent`, and an example per edge.
struct Circle {
    parent: ModPath,
    members: Vec<String>,
    edges: Vec<String>,
}

/// Reads the crate whose sources are in `src` and returns its circles.
fn circles_in(src: &Path) -> Vec<Circle> {
    let root = ["lib.rs", "main.rs"]
        .iter()
        .map(|name| src.join(name))
        .find(|path| path.is_file())
        .unwrap_or_else(|| panic!("no lib.rs or main.rs in {}", src.display()));
    let mut krate = Crate {
        modules: BTreeMap::new(),
        files: Vec::new(),
        references: Vec::new(),
    };
    load_file(&mut krate, Vec::new(), &root, true);
    collect_aliases(&mut krate);
    collect_references(&mut krate, src);
    find_circles(&krate)
}

/// Parses one module file and, recursively, the files of its submodules.
fn load_file(krate: &mut Crate, module: ModPath, file: &Path, owns_directory: bool) {
    let text = fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let parsed = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    // Submodule files sit beside a `mod.rs`/`lib.rs`, or in a directory named after the file.
    let directory = if owns_directory {
        file.parent().unwrap().to_path_buf()
    } else {
        file.with_extension("")
    };
    krate.modules.entry(module.clone()).or_default().has_file = true;
    load_items(krate, &module, &parsed.items, &directory);
    krate.files.push((module, file.to_path_buf(), parsed));
}

/// Registers the submodules declared among `items` and loads their files.
fn load_items(krate: &mut Crate, module: &ModPath, items: &[syn::Item], directory: &Path) {
    for item in items {
        let syn::Item::Mod(declared) = item else {
            continue;
        };
        let name = declared.ident.to_string();
        let child = child_of(module, &name);
        krate
            .modules
            .entry(module.clone())
            .or_default()
            .children
            .insert(name.clone());
        krate.modules.entry(child.clone()).or_default();
        match &declared.content {
            Some((_, inner)) => load_items(krate, &child, inner, &directory.join(&name)),
            None => {
                let (path, owns_directory) = module_file(declared, directory, &name);
                load_file(krate, child, &path, owns_directory);
            }
        }
    }
}

/// The file of `mod name;`: `#[path]`, `name.rs` or `name/mod.rs`, and
/// whether its own submodules live beside it.
fn module_file(declared: &syn::ItemMod, directory: &Path, name: &str) -> (PathBuf, bool) {
    let explicit = declared.attrs.iter().find_map(|attr| match &attr.meta {
        syn::Meta::NameValue(pair) if pair.path.is_ident("path") => match &pair.value {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(text),
                ..
            }) => Some(text.value()),
            _ => None,
        },
        _ => None,
    });
    if let Some(relative) = explicit {
        return (directory.join(relative), true);
    }
    let flat = directory.join(format!("{name}.rs"));
    if flat.is_file() {
        return (flat, false);
    }
    let nested = directory.join(name).join("mod.rs");
    assert!(
        nested.is_file(),
        "no file for `mod {name};` in {}",
        directory.display()
    );
    (nested, true)
}

/// Records what the `use` items of every module bring into scope.
fn collect_aliases(krate: &mut Crate) {
    let mut found = Vec::new();
    for (module, _, parsed) in &krate.files {
        aliases_of_items(krate, module, &parsed.items, &mut found);
    }
    for (module, name, target) in found {
        krate
            .modules
            .entry(module)
            .or_default()
            .aliases
            .insert(name, target);
    }
}

fn aliases_of_items(
    krate: &Crate,
    module: &ModPath,
    items: &[syn::Item],
    found: &mut Vec<(ModPath, String, ModPath)>,
) {
    for item in items {
        match item {
            syn::Item::Use(used) if used.leading_colon.is_none() => {
                for (written, name) in use_leaves(&used.tree, Vec::new()) {
                    let (Some(name), Some(target)) = (name, absolute(krate, module, &written))
                    else {
                        continue;
                    };
                    found.push((module.clone(), name, target));
                }
            }
            syn::Item::Mod(declared) => {
                if let Some((_, inner)) = &declared.content {
                    let child = child_of(module, &declared.ident.to_string());
                    aliases_of_items(krate, &child, inner, found);
                }
            }
            _ => {}
        }
    }
}

/// Every path a use tree imports, with the name it binds (none for a glob).
fn use_leaves(tree: &syn::UseTree, prefix: Vec<String>) -> Vec<(Vec<String>, Option<String>)> {
    let extend = |name: &syn::Ident| {
        let mut path = prefix.clone();
        // `use a::{self}` imports `a` itself.
        if name != "self" || path.is_empty() {
            path.push(name.to_string());
        }
        path
    };
    match tree {
        syn::UseTree::Path(step) => use_leaves(&step.tree, extend(&step.ident)),
        syn::UseTree::Name(leaf) => {
            let path = extend(&leaf.ident);
            let name = path.last().cloned();
            vec![(path, name)]
        }
        syn::UseTree::Rename(leaf) => vec![(extend(&leaf.ident), Some(leaf.rename.to_string()))],
        syn::UseTree::Glob(_) => vec![(prefix, None)],
        syn::UseTree::Group(group) => group
            .items
            .iter()
            .flat_map(|tree| use_leaves(tree, prefix.clone()))
            .collect(),
    }
}

/// Turns a path as written in `module` into a path from the crate root, or
/// `None` when it leads outside the crate (or to a local name).
fn absolute(krate: &Crate, module: &ModPath, written: &[String]) -> Option<ModPath> {
    let first = written.first()?;
    let mut base = match first.as_str() {
        "crate" => Vec::new(),
        "self" | "super" => module.clone(),
        name if is_child(krate, module, name) => {
            return Some([module.as_slice(), written].concat());
        }
        _ => return None,
    };
    let mut rest = &written[1..];
    if first == "super" {
        base.pop()?;
    }
    while rest.first().is_some_and(|segment| segment == "super") {
        base.pop()?;
        rest = &rest[1..];
    }
    Some([base.as_slice(), rest].concat())
}

fn child_of(module: &[String], name: &str) -> ModPath {
    let mut child = module.to_vec();
    child.push(name.to_string());
    child
}

fn is_child(krate: &Crate, module: &ModPath, name: &str) -> bool {
    krate
        .modules
        .get(module)
        .is_some_and(|known| known.children.contains(name))
}

/// Collects every path in every file that names a part of the crate.
fn collect_references(krate: &mut Crate, src: &Path) {
    let mut references = Vec::new();
    for (module, file, parsed) in &krate.files {
        let mut scan = PathScan {
            krate,
            module: module.clone(),
            file: Path::new("src").join(file.strip_prefix(src).unwrap_or(file)),
            references: &mut references,
        };
        scan.visit_file(parsed);
    }
    krate.references = references;
}

/// Walks one file's syntax and records the paths that name crate modules.
struct PathScan<'a> {
    krate: &'a Crate,
    module: ModPath,
    /// The file, relative to the crate's directory.
    file: PathBuf,
    references: &'a mut Vec<Reference>,
}

impl PathScan<'_> {
    fn record(&mut self, written: Vec<String>) {
        if let Some(target) = absolute(self.krate, &self.module, &written) {
            let evidence = format!("{}: {}", self.file.display(), written.join("::"));
            self.references.push(Reference {
                from: self.module.clone(),
                target,
                evidence,
            });
        }
    }

    /// Finds `crate::a::b`, `$crate::a`, `super::a` and `child::a` in macro input.
    fn scan_tokens(&mut self, tokens: TokenStream) {
        let tokens: Vec<TokenTree> = tokens.into_iter().collect();
        let mut index = 0;
        while index < tokens.len() {
            if let TokenTree::Group(group) = &tokens[index] {
                self.scan_tokens(group.stream());
            }
            let follows_separator =
                index >= 2 && is_separator(&tokens[index - 2], &tokens[index - 1]);
            let (path, next) = path_at(&tokens, index);
            if !follows_separator && path.len() > 1 {
                self.record(path);
            }
            index = next.max(index + 1);
        }
    }
}

/// The path of identifiers joined by `::` that starts at `index`, and the index after it.
fn path_at(tokens: &[TokenTree], mut index: usize) -> (Vec<String>, usize) {
    let mut path = Vec::new();
    while let Some(TokenTree::Ident(ident)) = tokens.get(index) {
        path.push(ident.to_string());
        match (tokens.get(index + 1), tokens.get(index + 2)) {
            (Some(first), Some(second)) if is_separator(first, second) => index += 3,
            _ => return (path, index + 1),
        }
    }
    (path, index)
}

/// Whether two tokens form `::`.
fn is_separator(first: &TokenTree, second: &TokenTree) -> bool {
    matches!(
        (first, second),
        (TokenTree::Punct(a), TokenTree::Punct(b))
            if a.as_char() == ':' && b.as_char() == ':' && a.spacing() == proc_macro2::Spacing::Joint
    )
}

impl<'ast> Visit<'ast> for PathScan<'_> {
    fn visit_item_mod(&mut self, declared: &'ast syn::ItemMod) {
        // A file module's items are walked with its own file.
        let Some((_, items)) = &declared.content else {
            return;
        };
        self.module.push(declared.ident.to_string());
        for item in items {
            self.visit_item(item);
        }
        self.module.pop();
    }

    fn visit_item_use(&mut self, used: &'ast syn::ItemUse) {
        if used.leading_colon.is_none() {
            for (written, _) in use_leaves(&used.tree, Vec::new()) {
                self.record(written);
            }
        }
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        if path.leading_colon.is_none() {
            self.record(path.segments.iter().map(|s| s.ident.to_string()).collect());
        }
        visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        self.scan_tokens(mac.tokens.clone());
        visit::visit_macro(self, mac);
    }

    fn visit_vis_restricted(&mut self, _: &'ast syn::VisRestricted) {
        // `pub(in crate::a)` only names an ancestor: no dependency.
    }
}

/// The module a path ends in once re-exports are followed (the deepest
/// module on it; the rest names an item there).
fn resolve(krate: &Crate, mut path: ModPath) -> ModPath {
    let mut module = Vec::new();
    let mut index = 0;
    // A bound on re-export hops, in case two `use` items point at each other.
    let mut hops = 0;
    while let Some(segment) = path.get(index) {
        let inner = child_of(&module, segment);
        if krate.modules.contains_key(&inner) {
            module = inner;
            index += 1;
            continue;
        }
        let alias = krate
            .modules
            .get(&module)
            .and_then(|known| known.aliases.get(segment));
        match alias {
            Some(target) if hops < 32 => {
                hops += 1;
                path = [target.as_slice(), &path[index + 1..]].concat();
                module.clear();
                index = 0;
            }
            _ => break,
        }
    }
    module
}

/// The graph edges among siblings, each with the first example seen.
type Edges = BTreeMap<ModPath, BTreeMap<(String, String), String>>;

fn sibling_edges(krate: &Crate) -> Edges {
    let mut edges = Edges::new();
    for reference in &krate.references {
        let target = resolve(krate, reference.target.clone());
        let shared = reference
            .from
            .iter()
            .zip(&target)
            .take_while(|(a, b)| a == b)
            .count();
        let (Some(from), Some(to)) = (reference.from.get(shared), target.get(shared)) else {
            continue;
        };
        let parent = reference.from[..shared].to_vec();
        let is_node = |name: &String| {
            let path = child_of(&parent, name);
            krate.modules.get(&path).is_some_and(|known| known.has_file)
        };
        if is_node(from) && is_node(to) {
            edges
                .entry(parent)
                .or_default()
                .entry((from.clone(), to.clone()))
                .or_insert_with(|| reference.evidence.clone());
        }
    }
    edges
}

fn find_circles(krate: &Crate) -> Vec<Circle> {
    let mut circles = Vec::new();
    for (parent, edges) in sibling_edges(krate) {
        let pairs: Vec<(String, String)> = edges.keys().cloned().collect();
        for members in strongly_connected(&pairs) {
            let inside =
                |(from, to): &&(String, String)| members.contains(from) && members.contains(to);
            let edges = edges
                .iter()
                .filter(|(pair, _)| inside(pair))
                .map(|((from, to), evidence)| format!("{from} → {to} ({evidence})"))
                .collect();
            circles.push(Circle {
                parent: parent.clone(),
                members,
                edges,
            });
        }
    }
    circles
}

/// Tarjan's algorithm: the components of two or more nodes, each sorted.
fn strongly_connected(edges: &[(String, String)]) -> Vec<Vec<String>> {
    struct Tarjan<'a> {
        next: BTreeMap<&'a str, Vec<&'a str>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        components: Vec<Vec<String>>,
    }
    impl<'a> Tarjan<'a> {
        fn visit(&mut self, node: &'a str) {
            let order = self.index.len();
            self.index.insert(node, order);
            self.low.insert(node, order);
            self.stack.push(node);
            for successor in self.next.get(node).cloned().unwrap_or_default() {
                if !self.index.contains_key(successor) {
                    self.visit(successor);
                    let low = self.low[node].min(self.low[successor]);
                    self.low.insert(node, low);
                } else if self.stack.contains(&successor) {
                    let low = self.low[node].min(self.index[successor]);
                    self.low.insert(node, low);
                }
            }
            if self.low[node] == self.index[node] {
                let at = self.stack.iter().rposition(|n| *n == node).unwrap();
                let mut component: Vec<String> =
                    self.stack.drain(at..).map(str::to_string).collect();
                if component.len() > 1 {
                    component.sort();
                    self.components.push(component);
                }
            }
        }
    }
    let mut tarjan = Tarjan {
        next: BTreeMap::new(),
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        components: Vec::new(),
    };
    for (from, to) in edges {
        tarjan
            .next
            .entry(from.as_str())
            .or_default()
            .push(to.as_str());
    }
    let nodes: Vec<&str> = tarjan.next.keys().copied().collect();
    for node in nodes {
        if !tarjan.index.contains_key(node) {
            tarjan.visit(node);
        }
    }
    tarjan.components
}

fn describe(name: &str, circles: &[Circle]) -> String {
    let mut text = format!("{name}: {} import circle(s)\n", circles.len());
    for circle in circles {
        let place = ["crate"]
            .into_iter()
            .chain(circle.parent.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join("::");
        let _ = writeln!(text, "  {place}::{{{}}}", circle.members.join(", "));
        for edge in &circle.edges {
            let _ = writeln!(text, "    {edge}");
        }
    }
    text
}

/// Fails with every circle of the workspace crate in directory `name`.
fn assert_acyclic(name: &str) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(name)
        .join("src");
    let circles = circles_in(&src);
    assert!(circles.is_empty(), "{}", describe(name, &circles));
}

#[test]
fn protocol_has_no_import_circle() {
    assert_acyclic("iot-sdk-protocol");
}

#[test]
fn codegen_has_no_import_circle() {
    assert_acyclic("iot-sdk-codegen");
}

#[test]
fn derive_has_no_import_circle() {
    assert_acyclic("iot-sdk-derive");
}

#[test]
fn runtime_has_no_import_circle() {
    assert_acyclic("iot-sdk");
}

#[test]
fn emulator_has_no_import_circle() {
    assert_acyclic("iot-sdk-emulator");
}

/// Writes `files` (path, text) under a fresh `src/` and returns the circles found.
fn circles_of(files: &[(&str, &str)]) -> (tempfile::TempDir, Vec<Circle>) {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    for (path, text) in files {
        let file = src.join(path);
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(file, text).unwrap();
    }
    let circles = circles_in(&src);
    (dir, circles)
}

fn members(circles: &[Circle]) -> Vec<(String, Vec<String>)> {
    circles
        .iter()
        .map(|circle| (circle.parent.join("::"), circle.members.clone()))
        .collect()
}

#[test]
fn checker_names_circles_at_top_level_and_inside_directories() {
    let (_dir, circles) = circles_of(&[
        (
            "lib.rs",
            "mod a; mod b; mod c; mod d; mod net; pub use c::Widget;",
        ),
        // A grouped use, a re-export through the root, and a macro argument.
        ("a.rs", "use crate::{b::Thing, d::Other};"),
        ("b.rs", "fn f() -> crate::Widget { todo!() }"),
        (
            "c.rs",
            "pub struct Widget; fn g() { println!(\"{}\", crate::a::NAME); }",
        ),
        ("d.rs", "pub struct Other;"),
        // Siblings inside a directory, by `super::` and by `crate::net::`.
        ("net/mod.rs", "mod link; mod wire; mod codec;"),
        ("net/link.rs", "use super::wire::Frame;"),
        (
            "net/wire.rs",
            "pub struct Frame; fn h() { crate::net::link::open(); }",
        ),
        ("net/codec.rs", "use super::wire::Frame;"),
    ]);
    assert_eq!(
        members(&circles),
        vec![
            (String::new(), vec!["a".into(), "b".into(), "c".into()]),
            ("net".into(), vec!["link".into(), "wire".into()]),
        ]
    );
    let text = describe("synthetic", &circles);
    assert!(
        text.contains("b → c (") && text.contains("crate::Widget"),
        "{text}"
    );
}

#[test]
fn checker_passes_a_layered_tree() {
    let (_dir, circles) = circles_of(&[
        ("lib.rs", "mod a; mod b; mod c;"),
        (
            "a.rs",
            "use crate::b::Thing; mod tests { use super::*; use crate::c::X; }",
        ),
        ("b.rs", "use crate::c::X; pub struct Thing;"),
        // An external crate of the same name as a module is not this crate's.
        ("c.rs", "pub struct X; fn f() { ::a::g(); }"),
    ]);
    assert!(circles.is_empty(), "{}", describe("layered", &circles));
}
