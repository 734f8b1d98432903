//! The page's HTML: ids and links, its style sheet and script, and [`Page`], which the
//! sections write into and which places each figure; escaping and number formats
//! ([`crate::text`]) re-exported for the sections.

use std::fmt::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::figure::{Figure, Size};
use crate::style::Styles;
pub(crate) use crate::text::{esc, fmt, sci};

pub(crate) fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The id of a task's section.
pub(crate) fn task_id(task: &str, shots: u32) -> String {
    format!("task-{}-{shots}shot", slug(task))
}

/// A task's name linking to its section.
pub(crate) fn task_link(task: &str, shots: u32) -> String {
    format!("<a href=\"#{}\">{}</a>", task_id(task, shots), esc(task))
}

pub(crate) struct Page<'a> {
    pub html: String,
    pub figures: PathBuf,
    pub styles: Styles,
    pub on_figure: &'a dyn Fn(),
}

impl Page<'_> {
    /// Saves a figure and places it. Its points' hover texts go to `stem.hot.js` beside
    /// it, which the page loads when the pointer first enters the figure: a page of
    /// hundreds of dense figures stays small, and works from `file://`.
    pub(crate) fn figure(&mut self, fig: &Figure, stem: &str, caption: &str) -> Result<()> {
        let saved = fig.save(&self.figures, stem)?;
        (self.on_figure)();
        let class = match fig.size {
            Size::Full => "full",
            Size::Panel => "panel",
        };
        let (w, h) = (saved.width, saved.height);
        let hot = !saved.hotspots.is_empty();
        if hot {
            let points: Vec<(i32, i32, &str)> = saved
                .hotspots
                .iter()
                .map(|p| (p.x, p.y, p.tip.as_str()))
                .collect();
            let js = format!(
                "emergentHot({},{});\n",
                serde_json::to_string(stem)?,
                serde_json::to_string(&points)?
            );
            let path = self.figures.join(format!("{stem}.hot.js"));
            std::fs::write(&path, js).with_context(|| format!("writing {}", path.display()))?;
        }
        let data = if hot {
            format!(" data-hot=\"{}\"", esc(stem))
        } else {
            String::new()
        };
        let files = match fig.size {
            Size::Full => format!(
                " <a href=\"figures/{stem}.png\">PNG</a> · <a href=\"figures/{stem}.svg\">SVG</a>"
            ),
            Size::Panel => String::new(),
        };
        let _ = write!(
            self.html,
            "<figure class=\"{class}\"><div class=\"plot\"{data}><img src=\"figures/{stem}.svg\" alt=\"{}\" width=\"{w}\" height=\"{h}\" loading=\"lazy\"></div><figcaption>{caption}{files}</figcaption></figure>",
            esc(&fig.title),
        );
        Ok(())
    }
}

pub(crate) const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:1420px;margin:auto;padding:0 1em;line-height:1.4}h2{border-bottom:1px solid #ddd;padding-bottom:2px;margin-top:1.6em}figure{display:inline-block;margin:4px;vertical-align:top}.plot{position:relative}.plot img{display:block;height:auto}figure.full img{width:770px;max-width:100%}figure.panel img{width:330px}#tip{position:fixed;display:none;background:#fffff4;border:1px solid #999;padding:3px 6px;font-size:13px;pointer-events:none;z-index:9;max-width:420px}figcaption{font-size:13px;color:#444;max-width:770px}figure.panel figcaption{max-width:330px}.row,.grid{display:flex;flex-wrap:wrap}table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px}tr.emergent td{background:#fff3d6}tr.uncertain td{background:#eef1f6}td.holds{background:#dff3df}td.fails{background:#f8dcdc}.banner{background:#fff0d0;border:1px solid #e0b050;padding:8px 12px;margin:1em 0}nav.toc{background:#f6f7f9;padding:8px 12px;font-size:14px}nav.toc a{white-space:nowrap}.legend span{margin-right:14px;white-space:nowrap;font-size:14px}.legend b{display:inline-block;width:22px;height:4px;margin-right:5px;vertical-align:middle}.legend i{display:inline-block;width:22px;border-top:2px dashed #777;margin-right:5px;vertical-align:middle}.legend u{display:inline-block;width:22px;border-top:2px solid #000;margin-right:5px;vertical-align:middle}details{margin:.5em 0}summary{cursor:pointer;font-size:1.15em;font-weight:600}.unidentified{background:#f3f3f3;padding:6px 10px}";

/// Opens the collapsed family that holds the target of a link; loads a figure's
/// hover texts when the pointer first enters it and shows the nearest point's.
pub(crate) const SCRIPT: &str = r#"function openTo(){var id=decodeURIComponent(location.hash.slice(1));var e=id?document.getElementById(id):null;if(!e)return;for(var p=e;p;p=p.parentElement)if(p.tagName==='DETAILS')p.open=true;e.scrollIntoView()}
addEventListener('hashchange',openTo);addEventListener('DOMContentLoaded',openTo);
var HOT={};function emergentHot(k,p){HOT[k]=p}
function plotOf(e){return e.target.closest?e.target.closest('.plot[data-hot]'):null}
document.addEventListener('mouseover',function(e){var d=plotOf(e);if(!d||d.dataset.asked)return;d.dataset.asked=1;var s=document.createElement('script');s.src='figures/'+d.dataset.hot+'.hot.js';document.head.appendChild(s)});
document.addEventListener('mousemove',function(e){var tip=document.getElementById('tip');var d=plotOf(e);var pts=d?HOT[d.dataset.hot]:null;if(!pts){tip.style.display='none';return}var img=d.querySelector('img');var r=img.getBoundingClientRect();var k=r.width/img.getAttribute('width');var x=(e.clientX-r.left)/k,y=(e.clientY-r.top)/k;var best=null,bd=64;for(var i=0;i<pts.length;i++){var dx=pts[i][0]-x,dy=pts[i][1]-y,dd=dx*dx+dy*dy;if(dd<bd){bd=dd;best=pts[i]}}if(!best){tip.style.display='none';return}tip.textContent=best[2];tip.style.left=(e.clientX+14)+'px';tip.style.top=(e.clientY+14)+'px';tip.style.display='block'});"#;
