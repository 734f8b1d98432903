//! `emergent-testhub ORG/NAME REV=DIR [REV=DIR …] [ORG/NAME …]`: serves the folders as
//! revisions of the repositories on 127.0.0.1 until killed, printing its address (for
//! `HF_ENDPOINT`), so that `huggingface_hub` and emergent can be tried against one server.

use emergent_testhub::{Faults, Repo, Server};

fn main() {
    let mut repos: Vec<Repo> = Vec::new();
    for arg in std::env::args().skip(1) {
        match arg.split_once('=') {
            Some((rev, dir)) if !repos.is_empty() => {
                let last = repos.last_mut().unwrap();
                last.revisions.push((rev.to_string(), dir.into()));
            }
            Some(_) => {
                eprintln!("{arg}: name a repository (ORG/NAME) before its revisions");
                std::process::exit(2);
            }
            None => repos.push(Repo {
                id: arg,
                ..Repo::default()
            }),
        }
    }
    if repos.is_empty() {
        eprintln!("usage: emergent-testhub ORG/NAME REV=DIR [REV=DIR ...] [ORG/NAME ...]");
        std::process::exit(2);
    }
    let server = match Server::start(&repos, Faults::default()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    println!("{}", server.url);
    loop {
        std::thread::park();
    }
}
