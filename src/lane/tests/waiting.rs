//! Waiting for credits and frames: deadlines, wake-ups, close, async, doorbells.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use event_listener::{listener, Event, Listener};

use super::{commit_value, ring};
use crate::lane::{LaneReader, ReserveError};

#[test]
fn reserve_deadline_times_out_without_credit() {
    let ring = ring(2, 1);
    let _held = (ring.try_reserve().unwrap(), ring.try_reserve().unwrap());
    let deadline = Instant::now() + Duration::from_millis(20);
    assert_eq!(
        ring.reserve_deadline(deadline).unwrap_err(),
        ReserveError::Timeout
    );
    assert!(Instant::now() >= deadline);
}

#[test]
fn a_release_on_another_thread_wakes_a_blocked_reservation() {
    let ring = ring(2, 1);
    let mut reader = LaneReader::new(ring.clone(), 0);
    commit_value(&ring, 0);
    commit_value(&ring, 1);

    let releaser = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        let offset = reader.poll().unwrap();
        assert!(reader.release(offset));
        reader
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let reservation = ring
        .reserve_deadline(deadline)
        .expect("woken by the release");
    assert_eq!(reservation.commit(&[0; 8], |_, _| {}), 2);
    releaser.join().unwrap();
}

#[test]
fn close_wakes_a_blocked_reservation() {
    let ring = ring(2, 1);
    let _held = (ring.try_reserve().unwrap(), ring.try_reserve().unwrap());
    let closer = {
        let ring = ring.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            ring.close();
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    assert_eq!(
        ring.reserve_deadline(deadline).unwrap_err(),
        ReserveError::Closed
    );
    closer.join().unwrap();
}

#[test]
fn reserve_async_waits_for_a_dropped_reservation() {
    let ring = ring(2, 1);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let held = (ring.try_reserve().unwrap(), ring.try_reserve().unwrap());
    runtime.block_on(async {
        let dropper = async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            drop(held);
        };
        let (reservation, ()) = tokio::join!(ring.reserve_async(), dropper);
        assert_eq!(reservation.unwrap().commit(&[0; 8], |_, _| {}), 0);
    });
}

#[test]
fn a_commit_rings_the_doorbell_of_a_parked_reader() {
    let ring = ring(4, 1);
    let doorbell = Arc::new(Event::new());
    assert!(ring.set_doorbell(0, doorbell.clone()));
    assert!(
        !ring.set_doorbell(0, doorbell.clone()),
        "one doorbell per subscription"
    );
    let mut reader = LaneReader::new(ring.clone(), 0);

    let producer = {
        let ring = ring.clone();
        thread::spawn(move || {
            for value in 0..100 {
                if value % 10 == 0 {
                    thread::sleep(Duration::from_millis(1));
                }
                let deadline = Instant::now() + Duration::from_secs(30);
                let reservation = ring.reserve_deadline(deadline).unwrap();
                reservation.commit(&[0; 8], |_, _| {});
            }
        })
    };

    // Park on the doorbell whenever the lane is empty (listen, arm, wait); every wait must
    // end in a frame.
    let mut next = 0;
    while next < 100 {
        if let Some(offset) = reader.poll() {
            assert_eq!(offset, next);
            assert!(reader.release(offset));
            next += 1;
            continue;
        }
        listener!(doorbell => listener);
        if reader.arm() {
            continue;
        }
        let woken = listener.wait_deadline(Instant::now() + Duration::from_secs(30));
        assert!(woken.is_some(), "a commit must ring the doorbell");
    }
    producer.join().unwrap();
}

#[test]
fn handles_and_futures_cross_threads() {
    fn send<T: Send>(_: &T) {}

    let ring = ring(2, 1);
    let future = ring.reserve_async();
    send(&future);
    send(&ring);
    send(&LaneReader::new(ring.clone(), 0));
}
