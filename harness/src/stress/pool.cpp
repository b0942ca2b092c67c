#include <stdexcept>

#include "pgrace/pool.hpp"

namespace pgrace {

Lease::Lease(std::weak_ptr<detail::LeaseOwner> owner, int slot, long epoch)
    : owner_(std::move(owner)), slot_(slot), epoch_(epoch) {}

Lease::Lease(Lease&& other) noexcept : owner_(std::move(other.owner_)), slot_(other.slot_), epoch_(other.epoch_) {
  other.slot_ = -1;
}

Lease& Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    release();
    owner_ = std::move(other.owner_);
    slot_ = other.slot_;
    epoch_ = other.epoch_;
    other.slot_ = -1;
  }
  return *this;
}

Lease::~Lease() { release(); }

pqxx::connection& Lease::connection() {
  if (slot_ < 0) throw std::logic_error("this pool lease holds no connection (released or moved from)");
  const auto owner = owner_.lock();
  if (!owner) throw std::logic_error("this pool lease outlived its pool (it was never released: leaked)");
  return owner->leased(slot_, epoch_);
}

void Lease::release() noexcept {
  if (slot_ < 0) return;
  if (const auto owner = owner_.lock()) owner->give_back(slot_, epoch_);
  owner_.reset();
  slot_ = -1;
}

}  // namespace pgrace
