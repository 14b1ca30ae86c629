//! Dependency plans: one graph of ids and the ids each depends on, used by the runner
//! (`needs`), the remediator (`after`) and `lint`. Unknown ids and cycles are found here once,
//! the same way for all three, and a topological order is derived from the same graph.

use std::collections::HashMap;

/// Why a node's dependencies cannot be met.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// It depends on an id no node has.
    Unknown(String),
    /// It is on a cycle; the path runs from the node back to itself.
    Cycle(Vec<String>),
}

/// For each node (by index), the indices it depends on, or its problem. Every member of a
/// cycle gets the `Cycle` problem: the cycles are found on the graph as declared, before any
/// node is marked, so marking one member cannot hide the cycle from the others.
pub fn resolve(ids: &[&str], deps: &[Vec<String>]) -> Vec<Result<Vec<usize>, Problem>> {
    let by_id: HashMap<&str, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let mut plan: Vec<Result<Vec<usize>, Problem>> = deps
        .iter()
        .map(|d| {
            d.iter()
                .map(|n| {
                    by_id
                        .get(n.as_str())
                        .copied()
                        .ok_or_else(|| Problem::Unknown(n.clone()))
                })
                .collect()
        })
        .collect();
    let cycles: Vec<(usize, Vec<String>)> = (0..ids.len())
        .filter_map(|i| find_cycle(i, &plan, ids).map(|c| (i, c)))
        .collect();
    for (i, cycle) in cycles {
        plan[i] = Err(Problem::Cycle(cycle));
    }
    plan
}

/// A path of ids from `start` back to itself, if one exists.
fn find_cycle(
    start: usize,
    plan: &[Result<Vec<usize>, Problem>],
    ids: &[&str],
) -> Option<Vec<String>> {
    let mut stack: Vec<(usize, Vec<usize>)> = vec![(start, vec![start])];
    let mut seen = std::collections::HashSet::new();
    while let Some((node, path)) = stack.pop() {
        let Ok(deps) = &plan[node] else { continue };
        for &dep in deps {
            if dep == start {
                let mut out: Vec<String> = path.iter().map(|&i| ids[i].to_string()).collect();
                out.push(ids[start].to_string());
                return Some(out);
            }
            if seen.insert(dep) {
                let mut next = path.clone();
                next.push(dep);
                stack.push((dep, next));
            }
        }
    }
    None
}

/// The nodes in an order where each comes after the ones it depends on, keeping the given
/// order otherwise. Dependencies on ids outside the graph are ignored (the caller chose the
/// nodes); a cycle is an error naming it.
pub fn order(ids: &[&str], deps: &[Vec<String>]) -> Result<Vec<usize>, Vec<String>> {
    let inside: Vec<Vec<String>> = deps
        .iter()
        .map(|d| {
            d.iter()
                .filter(|n| ids.contains(&n.as_str()))
                .cloned()
                .collect()
        })
        .collect();
    let plan = resolve(ids, &inside);
    let mut state = vec![0u8; ids.len()]; // 0 new, 1 visiting, 2 done
    let mut out = Vec::with_capacity(ids.len());
    fn visit(
        i: usize,
        plan: &[Result<Vec<usize>, Problem>],
        state: &mut [u8],
        out: &mut Vec<usize>,
    ) -> Result<(), usize> {
        match state[i] {
            2 => return Ok(()),
            1 => return Err(i),
            _ => {}
        }
        state[i] = 1;
        match &plan[i] {
            Ok(deps) => {
                for &d in deps {
                    visit(d, plan, state, out)?;
                }
            }
            Err(Problem::Cycle(_)) => return Err(i),
            Err(Problem::Unknown(_)) => {}
        }
        state[i] = 2;
        out.push(i);
        Ok(())
    }
    for i in 0..ids.len() {
        if let Err(at) = visit(i, &plan, &mut state, &mut out) {
            return Err(match &plan[at] {
                Err(Problem::Cycle(path)) => path.clone(),
                _ => vec![ids[at].to_string()],
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deps(d: &[&[&str]]) -> Vec<Vec<String>> {
        d.iter()
            .map(|l| l.iter().map(|s| s.to_string()).collect())
            .collect()
    }

    #[test]
    fn unknown_ids_and_every_member_of_a_cycle_are_problems() {
        let plan = resolve(
            &["x", "y", "z", "w"],
            &deps(&[&["nope"], &["z"], &["y"], &["y"]]),
        );
        assert_eq!(plan[0], Err(Problem::Unknown("nope".into())));
        assert_eq!(
            plan[1],
            Err(Problem::Cycle(vec!["y".into(), "z".into(), "y".into()]))
        );
        assert_eq!(
            plan[2],
            Err(Problem::Cycle(vec!["z".into(), "y".into(), "z".into()]))
        );
        assert_eq!(plan[3], Ok(vec![1]));
    }

    #[test]
    fn order_puts_dependencies_first_and_refuses_cycles() {
        let o = order(&["c", "a", "b"], &deps(&[&["b"], &[], &["a", "outside"]])).expect("order");
        assert_eq!(o, vec![1, 2, 0]);
        assert_eq!(
            order(&["a", "b"], &deps(&[&["b"], &["a"]])),
            Err(vec!["a".to_string(), "b".to_string(), "a".to_string()])
        );
    }
}
